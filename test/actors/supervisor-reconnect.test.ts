import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  cleanupTestActors,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  watchForLeaks,
} from '../../src/testing/index.js';

// sup.reconnect(id): aborts the running attempt, reconnects with zero delay, one pending at a time.
let leaks: ReturnType<typeof watchForLeaks>;
beforeAll(() => {
  leaks = watchForLeaks();
});
afterEach(() => cleanupTestActors());
afterAll(() => {
  expect(leaks.check()).toEqual({ timers: 0, supervisors: [], sessions: 0 });
});

const slow = { initialIntervalMs: 60_000, maxIntervalMs: 60_000, randomizationFactor: 0 };

async function running(script: Parameters<typeof createScriptedConnector>[0]) {
  const clock = new SimulatedClock();
  const connector = createScriptedConnector(script);
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    children: [{ id: 'db', connector, retry: slow }],
  }).start();
  await flush();
  return { clock, connector, sup };
}

describe('sup.reconnect', () => {
  it("aborts the running attempt's signal at once and reconnects with zero delay", async () => {
    const { clock, connector, sup } = await running([{}, {}]);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 1 });
    expect(sup.reconnect('db', 'credentials rotated')).toBe(true);
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    await flush();
    expect(clock.now()).toBe(0);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
    expect(sup.status('db')).not.toHaveProperty('lastFailure');
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('a second request while the first is pending returns false', async () => {
    const { connector, sup } = await running([{}, { init: 'hang' }, {}]);
    expect(sup.reconnect('db', 'one')).toBe(true);
    await flush();
    expect(sup.status('db')?.state).toBe('initializing');
    expect(sup.reconnect('db', 'two')).toBe(false);
    await flush();
    expect(connector.totals.connects).toBe(2);
    expect(connector.attempt(2)?.signalAborted).toBe(false);
  });

  it('is taken again once the new attempt is ready', async () => {
    const { sup } = await running([{}]);
    expect(sup.reconnect('db', 'one')).toBe(true);
    await flush();
    expect(sup.reconnect('db', 'two')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 3 });
  });

  it('skips the rest of a backoff wait', async () => {
    const { sup } = await running([{ connect: { fail: 'retryable' } }, {}]);
    expect(sup.status('db')).toMatchObject({ state: 'reconnecting', nextRetryAt: 60_000 });
    expect(sup.reconnect('db', 'try now')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
  });

  it('returns false for a child that has ended', async () => {
    const { sup } = await running([{ connect: { fail: 'stop' } }]);
    expect(sup.status('db')?.state).toBe('stopped');
    expect(sup.reconnect('db', 'too late')).toBe(false);
  });

  it('is not counted as a restart, nor as down', async () => {
    const { sup } = await running([{}]);
    const down: string[] = [];
    sup.on('down', (e) => down.push(e.child));
    sup.reconnect('db', 'operator');
    await flush();
    expect(sup.status('db')?.restarts).toBe(0);
    expect(down).toEqual([]);
    expect(sup.actor.getSnapshot().context.interventions).toEqual([]);
  });

  it('on a nested supervisor, reconnects every session under it', async () => {
    const clock = new SimulatedClock();
    const b = createScriptedConnector([{}]);
    const c = createScriptedConnector([{}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        {
          id: 'group',
          supervisor: {
            children: [
              { id: 'b', connector: b },
              { id: 'c', connector: c },
            ],
          },
        },
      ],
    }).start();
    await flush();
    expect(sup.reconnect('group', 'refresh all')).toBe(true);
    expect(b.attempt(1)?.signalAborted).toBe(true);
    expect(c.attempt(1)?.signalAborted).toBe(true);
    await flush();
    const group = sup.getSnapshot().children[0]?.supervisor;
    expect(group?.children.map((ch) => [ch.id, ch.status.state, ch.status.attempt])).toEqual([
      ['b', 'ready', 2],
      ['c', 'ready', 2],
    ]);
  });
});

describe('ctx.reconnect under a supervisor', () => {
  it('reconnects the child at once; a second request in the same attempt returns false', async () => {
    const { connector, sup } = await running([{ run: { requestReconnect: 'stale', times: 2 } }, {}]);
    expect(connector.attempt(1)?.reconnectResults).toEqual([true, false]);
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
  });
});
