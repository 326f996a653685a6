import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { Strategy } from '../../src/machines/supervisor.js';
import { advance, createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// The three strategies: which siblings are forced to reconnect when a child goes down.
checkLeaksAfterAll();

const retry = { initialIntervalMs: 100, randomizationFactor: 0 };

async function setup(strategy: Strategy, maxRestarts = 10) {
  const clock = new SimulatedClock();
  const connectors = {
    a: createScriptedConnector([{ run: 'manual' }], { name: 'a' }),
    b: createScriptedConnector([{ run: 'manual' }], { name: 'b' }),
    c: createScriptedConnector([{ run: 'manual' }], { name: 'c' }),
  };
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    strategy,
    intensity: { maxRestarts, periodMs: 60_000 },
    children: (['a', 'b', 'c'] as const).map((id) => ({ id, connector: connectors[id], retry })),
  }).start();
  const down: string[] = [];
  sup.on('down', (e) => down.push(e.child));
  await flush();
  for (const id of ['a', 'b', 'c']) expect(sup.status(id)?.state).toBe('ready');
  const interventions = () => sup.actor.getSnapshot().context.interventions.length;
  return { clock, sup, connectors, down, interventions };
}

describe('one-for-one', () => {
  it('restarts only the child that went down', async () => {
    const { clock, sup, connectors, down, interventions } = await setup('one-for-one');
    connectors.b.endRun(1, { type: 'disconnected' });
    await flush();
    expect(sup.status('b')?.state).toBe('reconnecting');
    for (const id of ['a', 'c'] as const) {
      expect(connectors[id].attempt(1)?.signalAborted).toBe(false);
      expect(sup.status(id)).toMatchObject({ state: 'ready', attempt: 1, restarts: 0 });
    }
    await advance(clock, 100);
    expect(sup.status('b')).toMatchObject({ state: 'ready', attempt: 2, restarts: 0 });
    expect(down).toEqual(['b']);
    expect(interventions()).toBe(0);
    await sup.stop();
  });
});

describe('one-for-all', () => {
  it('forces every other running child to reconnect, as one intervention', async () => {
    const { clock, sup, connectors, down, interventions } = await setup('one-for-all');
    connectors.b.endRun(1, { type: 'disconnected' });
    await flush();
    for (const id of ['a', 'c'] as const) {
      expect(connectors[id].attempt(1)?.signalAborted).toBe(true);
      expect(sup.status(id)).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
      expect(connectors[id].closeCalls(1)).toBe(1);
    }
    // The child that went down follows its own backoff.
    expect(sup.status('b')).toMatchObject({ state: 'reconnecting', attempt: 1, restarts: 0 });
    await advance(clock, 100);
    expect(sup.status('b')).toMatchObject({ state: 'ready', attempt: 2 });
    // Forced reconnects are voluntary: they do not cascade.
    expect(down).toEqual(['b']);
    expect(interventions()).toBe(1);
    await sup.stop();
  });

  it('a child that ends in fatal also counts as down', async () => {
    const { sup, connectors, down } = await setup('one-for-all');
    connectors.a.endRun(1, { fail: 'fatal', message: 'gone for good' });
    await flush();
    expect(down).toEqual(['a']);
    expect(sup.status('b')).toMatchObject({ attempt: 2, restarts: 1 });
    expect(sup.status('c')).toMatchObject({ attempt: 2, restarts: 1 });
    await sup.stop();
  });
});

describe('rest-for-one', () => {
  it('forces the children started after it to reconnect, not those before', async () => {
    const { sup, connectors, down, interventions } = await setup('rest-for-one');
    connectors.b.endRun(1, { type: 'disconnected' });
    await flush();
    expect(connectors.a.attempt(1)?.signalAborted).toBe(false);
    expect(sup.status('a')).toMatchObject({ state: 'ready', attempt: 1, restarts: 0 });
    expect(connectors.c.attempt(1)?.signalAborted).toBe(true);
    expect(sup.status('c')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    expect(down).toEqual(['b']);
    expect(interventions()).toBe(1);
    await sup.stop();
  });

  it('the last child going down restarts nobody and is no intervention', async () => {
    const { sup, connectors, interventions } = await setup('rest-for-one');
    connectors.c.endRun(1, { type: 'disconnected' });
    await flush();
    expect(sup.status('a')?.attempt).toBe(1);
    expect(sup.status('b')?.attempt).toBe(1);
    expect(interventions()).toBe(0);
    await sup.stop();
  });
});

describe('what counts as going down', () => {
  it.each(['one-for-all', 'rest-for-one'] as const)(
    '%s: a requested reconnect (run outcome or sup.reconnect) is not down',
    async (strategy) => {
      const { sup, connectors, down, interventions } = await setup(strategy);
      connectors.a.endRun(1, { type: 'reconnectRequested', reason: 'rotate credentials' });
      await flush();
      expect(sup.reconnect('a', 'operator')).toBe(true);
      await flush();
      expect(sup.status('a')?.attempt).toBe(3);
      expect(sup.status('b')?.attempt).toBe(1);
      expect(sup.status('c')?.attempt).toBe(1);
      expect(down).toEqual([]);
      expect(interventions()).toBe(0);
      await sup.stop();
    },
  );

  it('a child that fails before it was ever ready is not down', async () => {
    const clock = new SimulatedClock();
    const flaky = createScriptedConnector([{ connect: { fail: 'retryable' } }, {}]);
    const steady = createScriptedConnector([{}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      strategy: 'one-for-all',
      children: [
        { id: 'steady', connector: steady },
        { id: 'flaky', connector: flaky, retry },
      ],
    }).start();
    await flush();
    await advance(clock, 100);
    expect(sup.status('flaky')?.state).toBe('ready');
    expect(sup.status('steady')).toMatchObject({ attempt: 1, restarts: 0 });
    await sup.stop();
  });
});
