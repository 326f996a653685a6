import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  advance,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  type ScriptedHandle,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// status() and handle(): what they say in each state, and after remove().
checkLeaksAfterAll();

const retry = { initialIntervalMs: 100, randomizationFactor: 0 };

describe('status()', () => {
  it('follows the lifecycle: state, attempt, since, lastFailure, nextRetryAt only while reconnecting', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([
      { connect: { fail: 'retryable', message: 'refused', code: 'ECONNREFUSED' } },
      { run: 'manual' },
    ]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector, retry }],
    });
    clock.increment(1000);
    sup.start();
    await flush();
    expect(sup.status('db')).toEqual({
      state: 'reconnecting',
      attempt: 1,
      since: 1000,
      restarts: 0,
      nextRetryAt: 1100,
      lastFailure: {
        phase: 'connect',
        kind: 'retryable',
        summary: 'refused',
        code: 'ECONNREFUSED',
        attempt: 1,
        at: 1000,
      },
    });
    await advance(clock, 100);
    const ready = sup.status('db');
    expect(ready).toMatchObject({ state: 'ready', attempt: 2, since: 1100 });
    expect(ready).not.toHaveProperty('nextRetryAt');
    // The last failure stays visible after recovery.
    expect(ready?.lastFailure?.summary).toBe('refused');
    await sup.stop();
  });

  it('keeps fatal or stopped for an ended child that is not respawned', async () => {
    const clock = new SimulatedClock();
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        { id: 'f', restart: 'temporary', connector: createScriptedConnector([{ init: { fail: 'fatal' } }]) },
        { id: 's', connector: createScriptedConnector([{ run: { fail: 'stop' } }]) },
      ],
    }).start();
    await flush();
    expect(sup.status('f')?.state).toBe('fatal');
    expect(sup.status('s')?.state).toBe('stopped');
    await advance(clock, 60_000);
    expect(sup.status('f')?.state).toBe('fatal');
    expect(sup.status('s')?.state).toBe('stopped');
    await sup.stop();
  });

  it('is undefined after remove(), at once, and the child is stopped', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({ id: 'root', clock, children: [{ id: 'db', connector }] }).start();
    await flush();
    const removing = sup.remove('db');
    expect(sup.status('db')).toBeUndefined();
    expect(sup.handle('db')).toBeUndefined();
    await removing;
    expect(connector.closeCalls(1)).toBe(1);
    expect(sup.getSnapshot().children).toEqual([]);
    await sup.stop();
  });

  it('a removed child is not respawned, whatever its restart type', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector, restart: 'permanent' }],
    }).start();
    await flush();
    await sup.remove('db');
    await flush();
    expect(connector.totals.connects).toBe(1);
    await sup.stop();
  });
});

describe('handle()', () => {
  it('is the session handle only while the child is ready', async () => {
    const clock = new SimulatedClock();
    const steps = createScriptedConnector([{ init: 'hang' }], { name: 'slow' });
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        { id: 'db', connector: createScriptedConnector([{ run: 'manual' }, {}], { name: 'db' }), retry },
        { id: 'initializing', connector: steps },
      ],
    });
    expect(sup.handle('db')).toBeUndefined(); // not started
    sup.start();
    expect(sup.status('db')?.state).toBe('connecting');
    expect(sup.handle('db')).toBeUndefined();
    await flush();
    expect(sup.status('initializing')?.state).toBe('initializing');
    expect(sup.handle('initializing')).toBeUndefined();
    expect(sup.handle<ScriptedHandle>('db')).toEqual({ connector: 'db', attempt: 1 });
    await sup.stop();
  });

  it('is retracted when ready is left, and follows the new session after a reconnect', async () => {
    const clock = new SimulatedClock();
    const db = createScriptedConnector([{ run: 'manual' }, {}], { name: 'db' });
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector: db, retry }],
    }).start();
    await flush();
    expect(sup.handle<ScriptedHandle>('db')?.attempt).toBe(1);
    db.endRun(1, { type: 'disconnected' });
    await flush();
    expect(sup.status('db')?.state).toBe('reconnecting');
    expect(sup.handle('db')).toBeUndefined();
    await advance(clock, 100);
    expect(sup.handle<ScriptedHandle>('db')?.attempt).toBe(2);
    await sup.stop();
    expect(sup.handle('db')).toBeUndefined();
  });

  it('is undefined for a nested supervisor child', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [
        { id: 'group', supervisor: { children: [{ id: 'x', connector: createScriptedConnector([{}]) }] } },
      ],
    }).start();
    await flush();
    expect(sup.status('group')?.state).toBe('ready');
    expect(sup.handle('group')).toBeUndefined();
    await sup.stop();
  });
});

describe('getSnapshot()', () => {
  it('shows the tree with each child status', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      strategy: 'rest-for-one',
      children: [
        { id: 'a', connector: createScriptedConnector([{}]) },
        { id: 'group', supervisor: { children: [{ id: 'x', connector: createScriptedConnector([{}]) }] } },
      ],
    }).start();
    await flush();
    const snap = sup.getSnapshot();
    expect(snap).toMatchObject({ id: 'root', state: 'running', strategy: 'rest-for-one' });
    expect(snap.children.map((c) => [c.id, c.kind, c.status.state])).toEqual([
      ['a', 'session', 'ready'],
      ['group', 'supervisor', 'ready'],
    ]);
    expect(snap.children[1]?.supervisor?.children[0]).toMatchObject({ id: 'x', status: { state: 'ready' } });
    await sup.stop();
  });
});
