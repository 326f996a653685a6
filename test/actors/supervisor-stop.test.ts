import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { isWardenError } from '../../src/core/errors.js';
import {
  advance,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  type Journal,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// stop(): children in reverse start order, each bounded by its shutdownMs; nothing left running.
checkLeaksAfterAll();

/** Records when a promise settled, so a test can assert it is still pending. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('stop()', () => {
  it('stops children in reverse start order and ends stopped', async () => {
    const clock = new SimulatedClock();
    const journal: Journal = [];
    const ids = ['a', 'b', 'c', 'd'];
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: ids.map((id) => ({ id, connector: createScriptedConnector([{}], { name: id, journal }) })),
    }).start();
    await flush();
    const output = await sup.stop();
    expect(output).toEqual({ status: 'stopped' });
    expect(journal.filter((e) => e.event === 'close').map((e) => e.connector)).toEqual(['d', 'c', 'b', 'a']);
    for (const id of ids) expect(sup.status(id)?.state).toBe('stopped');
    expect(sup.getSnapshot().state).toBe('stopped');
  });

  it('waits for each close() at most its shutdownMs (actor clock), one child after the other', async () => {
    const clock = new SimulatedClock();
    const journal: Journal = [];
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        {
          id: 'a',
          connector: createScriptedConnector([{ close: 'hang' }], { name: 'a', journal }),
          shutdownMs: 300,
        },
        {
          id: 'b',
          connector: createScriptedConnector([{ close: 'hang' }], { name: 'b', journal }),
          shutdownMs: 200,
        },
      ],
    }).start();
    await flush();
    const stopped = track(sup.stop());
    await flush();
    expect(journal.filter((e) => e.event === 'close').map((e) => e.connector)).toEqual(['b']);
    await advance(clock, 199);
    expect(sup.status('b')?.state).toBe('stopping');
    await advance(clock, 1);
    expect(sup.status('b')?.state).toBe('stopped');
    expect(journal.filter((e) => e.event === 'close').map((e) => e.connector)).toEqual(['b', 'a']);
    await advance(clock, 299);
    expect(stopped.settled).toBe(false);
    await advance(clock, 1);
    expect(stopped).toEqual({ settled: true, value: { status: 'stopped' } });
  });

  it('with timeoutMs: rejects WARDEN_TIMEOUT and stops every actor at once, nested ones too', async () => {
    const clock = new SimulatedClock();
    const hang = () => createScriptedConnector([{ close: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        { id: 'a', connector: hang(), shutdownMs: 60_000 },
        {
          id: 'group',
          shutdownMs: 60_000,
          supervisor: { children: [{ id: 'x', connector: hang(), shutdownMs: 60_000 }] },
        },
      ],
    }).start();
    await flush();
    const err = await sup.stop({ timeoutMs: 30 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isWardenError(err, 'WARDEN_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain("'root'");
    expect(sup.actor.getSnapshot().status).toBe('stopped');
    expect(sup.status('a')?.state).toBe('stopped');
    expect(sup.getSnapshot().children[1]?.supervisor?.children[0]?.status.state).toBe('stopped');
    expect(Object.keys(sup.actor.system.getAll())).toEqual([]);
  });

  it('a nested supervisor is bounded by its own shutdownMs, and its timeout is no unhandled error', async () => {
    const clock = new SimulatedClock();
    const x = createScriptedConnector([{ close: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [
        {
          id: 'group',
          shutdownMs: 20,
          supervisor: { children: [{ id: 'x', connector: x, shutdownMs: 60_000 }] },
        },
      ],
    }).start();
    await flush();
    // The actor clock never moves, so only the group's real-time bound can end x.
    expect(await sup.stop()).toEqual({ status: 'stopped' });
    const group = sup.getSnapshot().children[0];
    expect(group?.status.state).toBe('stopped');
    expect(group?.supervisor?.children[0]?.status.state).toBe('stopped');
    expect(x.attempt(1)?.signalAborted).toBe(true);
    expect(x.closeCalls()).toBe(1);
  });

  it('before start() ends at once without connecting anything', async () => {
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({ id: 'root', children: [{ id: 'a', connector }] });
    expect(await sup.stop()).toEqual({ status: 'stopped' });
    expect(connector.totals.connects).toBe(0);
  });

  it('twice gives the same output; start() after stop() does nothing', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({ id: 'root', clock, children: [{ id: 'a', connector }] }).start();
    await flush();
    const [first, second] = await Promise.all([sup.stop(), sup.stop()]);
    expect(first).toEqual({ status: 'stopped' });
    expect(second).toEqual(first);
    expect(await sup.stop()).toEqual(first);
    sup.start();
    await flush();
    expect(connector.totals.connects).toBe(1);
    expect(connector.closeCalls()).toBe(1);
  });

  it('of a failed supervisor resolves with its failure', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      intensity: { maxRestarts: 0 },
      children: [{ id: 'a', connector: createScriptedConnector([{ connect: { fail: 'fatal' } }]) }],
    }).start();
    await flush();
    expect(await sup.stop()).toMatchObject({ status: 'failed', report: { code: 'intensity_exceeded' } });
  });
});

describe('a child left for a retry or a reconnect, its close() still running', () => {
  const waitLong = { initialIntervalMs: 20_000, randomizationFactor: 0 } as const;

  it('stop() resolves only after the close() of the session the reconnecting child left', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'manual' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'a', connector, retry: waitLong }],
    }).start();
    await flush();
    expect(sup.status('a')?.state).toBe('reconnecting');
    expect(connector.closeCalls(1)).toBe(1);
    const stopped = track(sup.stop());
    await flush();
    expect(stopped.settled).toBe(false);
    expect(sup.status('a')?.state).toBe('stopping');
    connector.endClose(1);
    await flush();
    expect(stopped).toEqual({ settled: true, value: { status: 'stopped' } });
    expect(sup.status('a')?.state).toBe('stopped');
    expect(connector.totals).toMatchObject({ connects: 1, closes: 1 });
  });

  it('stop() waits at most shutdownMs (actor clock) for it, and close() still runs once', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'a', connector, retry: waitLong, shutdownMs: 250 }],
    }).start();
    await flush();
    const stopped = track(sup.stop());
    await advance(clock, 249);
    expect(stopped.settled).toBe(false);
    await advance(clock, 1);
    expect(stopped).toEqual({ settled: true, value: { status: 'stopped' } });
    expect(connector.totals).toMatchObject({ connects: 1, closes: 1 });
  });

  it('remove() resolves only after it', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'manual' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'a', connector, retry: waitLong }],
    }).start();
    await flush();
    const removed = track(sup.remove('a'));
    await flush();
    expect(removed.settled).toBe(false);
    connector.endClose(1);
    await flush();
    expect(removed.settled).toBe(true);
    expect(sup.status('a')).toBeUndefined();
    expect(connector.closeCalls()).toBe(1);
    await sup.stop();
  });

  it('after sup.reconnect, stop() waits for the previous session as well as the new attempt', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ close: 'manual' }, { close: 'manual' }]);
    const sup = createTestSupervisor({ id: 'root', clock, children: [{ id: 'a', connector }] }).start();
    await flush();
    expect(sup.reconnect('a', 'rotate')).toBe(true);
    await flush();
    expect(sup.status('a')).toMatchObject({ state: 'ready', attempt: 2 });
    const stopped = track(sup.stop());
    await flush();
    connector.endClose(2);
    await flush();
    expect(stopped.settled).toBe(false);
    connector.endClose(1);
    await flush();
    expect(stopped).toEqual({ settled: true, value: { status: 'stopped' } });
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([1, 1]);
  });
});

describe('remove()', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is bounded even when the actor clock never moves: the child is stopped at once after shutdownMs', async () => {
    // The supervisor's own bound is a real timer (shutdownMs + 100 ms): fake it, don't wait for it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ close: 'hang' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'a', connector, shutdownMs: 0 }],
    }).start();
    await flush();
    const ref = sup.actor.system.get('root/a#1');
    expect(ref).toBeDefined();
    const removed = track(sup.remove('a'));
    await flush();
    expect(removed.settled).toBe(false);
    expect(sup.status('a')).toBeUndefined();
    vi.advanceTimersByTime(99);
    await flush();
    expect(removed.settled).toBe(false);
    expect(ref?.getSnapshot().status).toBe('active');
    vi.advanceTimersByTime(1);
    await flush();
    expect(removed.settled).toBe(true);
    expect(ref?.getSnapshot().status).toBe('stopped');
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls()).toBe(1);
    vi.useRealTimers();
    await sup.stop();
  });
});
