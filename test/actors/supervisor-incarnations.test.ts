import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { Supervisor } from '../../src/actors/supervisor.js';
import { advance, createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Incarnations: a fresh systemId each time a child is spawned; restart() and remove()/add()
// never leave two live incarnations of one child.
checkLeaksAfterAll();

/** The systemIds registered in the supervisor's actor system, sorted. */
const systemIds = (sup: Supervisor): string[] => Object.keys(sup.actor.system.getAll()).sort();

describe('systemIds', () => {
  it('each incarnation of a child registers a new systemId; the ended one is gone', async () => {
    const clock = new SimulatedClock();
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector: createScriptedConnector([{ run: { fail: 'fatal' } }, {}]) }],
    }).start();
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    expect(systemIds(sup)).toEqual(['root', 'root/db#2']);
    await sup.stop();
  });

  it('a nested supervisor gets a new systemId per incarnation, and so do its children', async () => {
    const clock = new SimulatedClock();
    // The first connect of x fails fatally, every later one succeeds.
    let connects = 0;
    const x = createScriptedConnector(() => (++connects === 1 ? { connect: { fail: 'fatal' } } : {}));
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        {
          id: 'group',
          supervisor: { intensity: { maxRestarts: 0 }, children: [{ id: 'x', connector: x }] },
        },
      ],
    }).start();
    await flush();
    // Incarnation 1 of group failed at its first intervention (respawning x); incarnation 2 runs
    // a fresh x, whose attempts count from 1 again.
    expect(sup.status('group')).toMatchObject({ state: 'ready', restarts: 1 });
    expect(systemIds(sup)).toEqual(['root', 'root/group#2', 'root/group#2/x#1']);
    await sup.stop();
  });
});

describe('restart()', () => {
  it('of a permanent child leaves exactly one live incarnation', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector, restart: 'permanent' }],
    }).start();
    await flush();
    await sup.restart('db');
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    expect(connector.totals.connects).toBe(2);
    expect(connector.totals.sessions - connector.totals.closes).toBe(1);
    expect(systemIds(sup)).toEqual(['root', 'root/db#2']);
    // Not an intervention: restart() is asked for.
    expect(sup.actor.getSnapshot().context.interventions).toEqual([]);
    await sup.stop();
    expect(connector.totals.closes).toBe(connector.totals.sessions);
  });

  it('called twice at once still starts a single new incarnation', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({ id: 'root', clock, children: [{ id: 'db', connector }] }).start();
    await flush();
    await Promise.all([sup.restart('db'), sup.restart('db')]);
    await flush();
    expect(connector.totals.connects).toBe(2);
    expect(sup.status('db')).toMatchObject({ state: 'ready', restarts: 1 });
    await sup.stop();
  });

  it('of an ended temporary child starts it again', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ connect: { fail: 'fatal' } }, {}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector, restart: 'temporary' }],
    }).start();
    await flush();
    expect(sup.status('db')?.state).toBe('fatal');
    await sup.restart('db');
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    await sup.stop();
  });
});

describe('remove() then add() of the same id', () => {
  it('works while the old incarnation is still stopping', async () => {
    const clock = new SimulatedClock();
    const old = createScriptedConnector([{ close: 'hang' }], { name: 'old' });
    const fresh = createScriptedConnector([{}], { name: 'fresh' });
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector: old, restart: 'permanent', shutdownMs: 1000 }],
    }).start();
    await flush();
    const removed = sup.remove('db');
    sup.add({ id: 'db', connector: fresh, restart: 'permanent' });
    await flush();
    expect(systemIds(sup)).toEqual(['root', 'root/db#1', 'root/db#2']);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 1, restarts: 0 });
    // The old incarnation ends when its shutdownMs elapses; that neither respawns nor disturbs the new one.
    await advance(clock, 1000);
    await removed;
    expect(systemIds(sup)).toEqual(['root', 'root/db#2']);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 1, restarts: 0 });
    expect(old.totals.connects).toBe(1);
    expect(fresh.totals.connects).toBe(1);
    expect(sup.actor.getSnapshot().context.interventions).toEqual([]);
    await sup.stop();
  });
});
