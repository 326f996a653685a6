import { describe, expect, it } from 'vitest';
import { createScriptedConnector, flush, type Journal, startTestSession } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Reconnect requests: zero delay, the running attempt's signal is aborted, one pending at a time.
checkLeaksAfterAll();

const slow = { initialIntervalMs: 10_000, randomizationFactor: 0 } as const;

describe('reconnectRequested run outcome', () => {
  it('reconnects with zero delay: no clock increment needed, not a failure', async () => {
    const connector = createScriptedConnector([
      { run: { type: 'reconnectRequested', reason: 'config changed' } },
      { init: 'hang' },
    ]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    expect(s.clock.now()).toBe(0);
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1', 'connecting#2', 'initializing#2']);
    const c = s.actor.getSnapshot().context;
    expect(c.lastFailure).toBeUndefined();
    expect(c.budget.failures).toBe(0);
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(1);
    s.actor.stop();
  });
});

describe('ctx.reconnect.tryRequestReconnect', () => {
  it('aborts the running attempt, then a new attempt starts at once', async () => {
    const journal: Journal = [];
    const connector = createScriptedConnector([{}, { init: 'hang' }], { journal, name: 'c' });
    const s = startTestSession(connector, { retry: slow });
    await flush();
    const first = connector.attempt(1);
    expect(first?.signalAborted).toBe(false);
    expect(first?.context.reconnect.tryRequestReconnect('stale subscription')).toBe(true);
    expect(first?.signalAborted).toBe(true);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1', 'connecting#2', 'initializing#2']);
    // The signal is aborted before close() runs.
    expect(journal.map((e) => `${e.event}#${e.attempt}`)).toEqual([
      'connect#1',
      'init#1',
      'run#1',
      'abort#1',
      'close#1',
      'connect#2',
      'init#2',
    ]);
    s.actor.stop();
  });

  it('a second request while one is pending returns false', async () => {
    const connector = createScriptedConnector([{ run: { requestReconnect: 'again', times: 2 } }, {}]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    expect(connector.attempt(1)?.reconnectResults).toEqual([true, false]);
    expect(connector.totals.connects).toBe(2);
    s.actor.stop();
  });

  it('returns false before the session is ready', async () => {
    const connector = createScriptedConnector([{ init: 'hang' }]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing']);
    expect(connector.attempt(1)?.context.reconnect.tryRequestReconnect('too early')).toBe(false);
    expect(connector.attempt(1)?.signalAborted).toBe(false);
    s.actor.stop();
  });

  it('returns false once the attempt was abandoned', async () => {
    const connector = createScriptedConnector([{}, { init: 'hang' }]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'from outside' });
    await flush();
    expect(connector.attempt(1)?.context.reconnect.tryRequestReconnect('late')).toBe(false);
    expect(connector.totals.connects).toBe(2);
    s.actor.stop();
  });
});

describe('RECONNECT event', () => {
  it('aborts the running attempt and reconnects with zero delay', async () => {
    const connector = createScriptedConnector([{}, { init: 'hang' }]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'operator' });
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1', 'connecting#2', 'initializing#2']);
    expect(s.clock.now()).toBe(0);
    s.actor.stop();
  });

  it('is taken again by the new attempt, even one stuck in connect', async () => {
    // Pending ends once the machine has acted on the request: a new attempt started.
    const connector = createScriptedConnector([
      {},
      { connect: 'hang' },
      { connect: 'hang' },
      { init: 'hang' },
    ]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'one' });
    await flush();
    expect(s.trace.at(-1)).toBe('connecting#2');
    s.actor.send({ type: 'RECONNECT', reason: 'two' });
    expect(connector.attempt(2)?.signalAborted).toBe(true);
    await flush();
    expect(s.trace.at(-1)).toBe('connecting#3');
    s.actor.send({ type: 'RECONNECT', reason: 'three' });
    expect(connector.attempt(3)?.signalAborted).toBe(true);
    await flush();
    expect(s.trace).toEqual([
      'connecting#1',
      'initializing#1',
      'ready#1',
      'connecting#2',
      'connecting#3',
      'connecting#4',
      'initializing#4',
    ]);
    expect(connector.attempt(4)?.signalAborted).toBe(false);
    expect(s.actor.getSnapshot().context).toMatchObject({ reconnectReason: 'three', delayMs: 0 });
    expect(s.clock.now()).toBe(0);
    s.actor.stop();
  });

  it('and taken again once the new attempt is ready', async () => {
    const connector = createScriptedConnector([{}]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'one' });
    await flush();
    expect(s.trace.at(-1)).toBe('ready#2');
    s.actor.send({ type: 'RECONNECT', reason: 'two' });
    expect(connector.attempt(2)?.signalAborted).toBe(true);
    await flush();
    expect(s.trace.slice(-4)).toEqual(['ready#2', 'connecting#3', 'initializing#3', 'ready#3']);
    expect(connector.closeCalls()).toBe(2);
    s.actor.stop();
  });

  it('during the backoff wait after a failure of the new attempt, skips the wait', async () => {
    const connector = createScriptedConnector([{}, { connect: { fail: 'retryable' } }, { connect: 'hang' }]);
    const s = startTestSession(connector, { retry: slow });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'one' });
    await flush();
    expect(s.trace.at(-1)).toBe('reconnecting#2');
    // A failure ends the request's effect: the attempt after it began after a failure.
    expect(s.actor.getSnapshot().context.reconnectReason).toBeUndefined();
    s.actor.send({ type: 'RECONNECT', reason: 'skip the wait' });
    await flush();
    expect(s.trace.at(-1)).toBe('connecting#3');
    expect(s.clock.now()).toBe(0);
    s.actor.stop();
  });
});
