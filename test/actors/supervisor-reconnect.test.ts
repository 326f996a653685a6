import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// sup.reconnect(id): aborts the running attempt, reconnects with zero delay, one pending at a time.
checkLeaksAfterAll();

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
    await sup.stop();
  });

  it('a stuck connect can be reconnected again and again: each request starts a new attempt', async () => {
    const { clock, connector, sup } = await running([{}, { connect: 'hang' }, { connect: 'hang' }, {}]);
    expect(sup.reconnect('db', 'one')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'connecting', attempt: 2 });
    expect(sup.reconnect('db', 'two')).toBe(true);
    expect(connector.attempt(2)?.signalAborted).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'connecting', attempt: 3 });
    expect(sup.reconnect('db', 'three')).toBe(true);
    expect(connector.attempt(3)?.signalAborted).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 4 });
    expect(connector.attempt(4)?.signalAborted).toBe(false);
    expect(clock.now()).toBe(0);
    await sup.stop();
  });

  it('a second request while the first has not been acted on returns false', async () => {
    const connector = createScriptedConnector([{}, { init: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'db', connector, retry: slow }],
    });
    // A listener of the child's own transition runs inside the session machine's step: the first
    // request waits in its mailbox until the step ends, so it is still pending at the second.
    const results: boolean[] = [];
    sup.on('ready', (e) => {
      if (e.attempt === 1) results.push(sup.reconnect('db', 'one'), sup.reconnect('db', 'two'));
    });
    sup.start();
    await flush();
    expect(results).toEqual([true, false]);
    expect(sup.status('db')).toMatchObject({ state: 'initializing', attempt: 2 });
    expect(connector.totals.connects).toBe(2);
    expect(connector.attempt(2)?.signalAborted).toBe(false);
    // Acted on: the next request is taken.
    expect(sup.reconnect('db', 'three')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'initializing', attempt: 3 });
    await sup.stop();
  });

  it('is taken again once the new attempt is ready', async () => {
    const { sup } = await running([{}]);
    expect(sup.reconnect('db', 'one')).toBe(true);
    await flush();
    expect(sup.reconnect('db', 'two')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 3 });
    await sup.stop();
  });

  it('skips the rest of a backoff wait', async () => {
    const { sup } = await running([{ connect: { fail: 'retryable' } }, {}]);
    expect(sup.status('db')).toMatchObject({ state: 'reconnecting', nextRetryAt: 60_000 });
    expect(sup.reconnect('db', 'try now')).toBe(true);
    await flush();
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
    await sup.stop();
  });

  it('returns false for a child that has ended', async () => {
    const { sup } = await running([{ connect: { fail: 'stop' } }]);
    expect(sup.status('db')?.state).toBe('stopped');
    expect(sup.reconnect('db', 'too late')).toBe(false);
    await sup.stop();
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
    await sup.stop();
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
    await sup.stop();
  });
});

describe('ctx.reconnect under a supervisor', () => {
  it('a second request before the session acted on the first returns false', async () => {
    const connector = createScriptedConnector([{}, { init: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'db', connector, retry: slow }],
    });
    // As above: from inside the session's step, the signal is not aborted yet after the first.
    const results: boolean[] = [];
    sup.on('ready', (e) => {
      const reconnect = connector.attempt(e.attempt)?.context.reconnect;
      if (e.attempt === 1 && reconnect) {
        results.push(reconnect.tryRequestReconnect('a'), reconnect.tryRequestReconnect('b'));
      }
    });
    sup.start();
    await flush();
    expect(results).toEqual([true, false]);
    expect(connector.totals.connects).toBe(2);
    expect(sup.status('db')).toMatchObject({ state: 'initializing', attempt: 2 });
    await sup.stop();
  });

  it('reconnects the child at once; a second request in the same attempt returns false', async () => {
    const { connector, sup } = await running([{ run: { requestReconnect: 'stale', times: 2 } }, {}]);
    expect(connector.attempt(1)?.reconnectResults).toEqual([true, false]);
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
    await sup.stop();
  });
});
