import { describe, expect, it } from 'vitest';
import {
  advance,
  createScriptedConnector,
  flush,
  type Journal,
  startTestSession,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// STOP in every state, and close() exactly once per session in every path.
checkLeaksAfterAll();

const retry = { initialIntervalMs: 100, randomizationFactor: 0 } as const;

describe('STOP in every state', () => {
  it('connecting: aborts the attempt and ends stopped; nothing to close', async () => {
    const connector = createScriptedConnector([{ connect: 'hang' }]);
    const s = startTestSession(connector, { retry });
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states).toEqual(['connecting', 'stopping', 'stopped']);
    expect(s.actor.getSnapshot().output).toEqual({ status: 'stopped' });
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.totals).toMatchObject({ sessions: 0, closes: 0 });
  });

  it('initializing: closes the session once', async () => {
    const connector = createScriptedConnector([{ init: 'hang' }]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing', 'stopping', 'stopped']);
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('ready: retracts the handle and closes the session once', async () => {
    const connector = createScriptedConnector([{}]);
    const s = startTestSession(connector, { retry });
    await flush();
    expect(s.actor.getSnapshot().context.handle).toBeDefined();
    s.actor.send({ type: 'STOP' });
    expect(s.actor.getSnapshot().context.handle).toBeUndefined();
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing', 'ready', 'stopping', 'stopped']);
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('reconnecting: waits in stopping for the close() of the session left, then stopped', async () => {
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'manual' }]);
    const s = startTestSession(connector, { retry });
    await flush();
    expect(s.states.at(-1)).toBe('reconnecting');
    expect(connector.closeCalls(1)).toBe(1);
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states.at(-1)).toBe('stopping');
    expect(connector.endClose(1)).toBe(true);
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing', 'ready', 'reconnecting', 'stopping', 'stopped']);
    // The backoff timer went with `reconnecting`: no new attempt, no second close.
    await advance(s.clock, 1000);
    expect(connector.totals).toMatchObject({ connects: 1, closes: 1 });
  });

  it('reconnecting: a close() of the session left that never settles is bounded by shutdownMs', async () => {
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'hang' }]);
    const s = startTestSession(connector, {
      retry: { ...retry, initialIntervalMs: 10_000 },
      shutdownMs: 300,
    });
    await flush();
    s.actor.send({ type: 'STOP' });
    await advance(s.clock, 299);
    expect(s.states.at(-1)).toBe('stopping');
    await advance(s.clock, 1);
    expect(s.states.at(-1)).toBe('stopped');
    expect(connector.totals).toMatchObject({ connects: 1, closes: 1 });
  });

  it('reconnecting with nothing to close (connect failed): stopped as soon as the attempt answers', async () => {
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states).toEqual(['connecting', 'reconnecting', 'stopping', 'stopped']);
    expect(s.clock.now()).toBe(0);
  });

  it('a new attempt after a reconnect: STOP waits for the previous session still closing too', async () => {
    const connector = createScriptedConnector([{ close: 'manual' }, { connect: 'hang' }]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'rotate' });
    await flush();
    expect(s.trace.at(-1)).toBe('connecting#2');
    expect(connector.closeCalls(1)).toBe(1);
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.trace.at(-1)).toBe('stopping#2');
    expect(connector.attempt(2)?.signalAborted).toBe(true);
    connector.endClose(1);
    await flush();
    expect(s.trace.at(-1)).toBe('stopped#2');
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([1, 0]);
  });
});

describe('close() runs exactly once per session', () => {
  it('a connect that resolves after STOP: the late session is closed', async () => {
    const connector = createScriptedConnector([{ connect: 'resolveOnAbort' }]);
    const s = startTestSession(connector, { retry });
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states.at(-1)).toBe('stopped');
    expect(connector.totals).toMatchObject({ sessions: 1, closes: 1, inits: 0 });
  });

  it('a connect that resolves after a reconnect request: the late session is closed', async () => {
    const connector = createScriptedConnector([{ connect: 'resolveOnAbort' }, { init: 'hang' }]);
    const s = startTestSession(connector, { retry });
    s.actor.send({ type: 'RECONNECT', reason: 'now' });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'connecting#2', 'initializing#2']);
    expect(connector.attempt(1)?.closeCalls).toBe(1);
    expect(connector.attempt(1)?.phases).toEqual(['connect']);
    s.actor.stop();
  });

  it('an init that resolves after STOP does not reach ready; the session is closed once', async () => {
    const connector = createScriptedConnector([{ init: 'resolveOnAbort' }]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing', 'stopping', 'stopped']);
    expect(connector.attempt(1)?.phases).toEqual(['connect', 'init']);
    expect(connector.closeCalls()).toBe(1);
  });

  it('a close() that throws: still stopped, called once, nothing unhandled', async () => {
    const connector = createScriptedConnector([{ close: 'throw' }]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.states.at(-1)).toBe('stopped');
    expect(connector.closeCalls()).toBe(1);
  });

  it('a close() that throws while reconnecting does not stop the retries', async () => {
    const connector = createScriptedConnector([{ run: { fail: 'retryable' }, close: 'throw' }, {}]);
    const s = startTestSession(connector, { retry });
    await flush();
    await advance(s.clock, 100);
    expect(s.trace.at(-1)).toBe('ready#2');
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([1, 0]);
    s.actor.stop();
  });

  it('a close() that never settles is bounded by shutdownMs', async () => {
    const connector = createScriptedConnector([{ close: 'hang' }]);
    const s = startTestSession(connector, { retry, shutdownMs: 1000 });
    await flush();
    s.actor.send({ type: 'STOP' });
    await advance(s.clock, 999);
    expect(s.states.at(-1)).toBe('stopping');
    await advance(s.clock, 1);
    expect(s.states.at(-1)).toBe('stopped');
    expect(connector.closeCalls()).toBe(1);
  });

  it('stopping the actor itself (no STOP event) aborts and closes once', async () => {
    const connector = createScriptedConnector([{}]);
    const s = startTestSession(connector, { retry });
    await flush();
    s.actor.stop();
    await flush();
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('over a long life with every kind of ending, sessions made = sessions closed', async () => {
    const journal: Journal = [];
    const connector = createScriptedConnector(
      [
        { run: { type: 'disconnected' } },
        { init: { fail: 'retryable' } },
        { run: { requestReconnect: 'refresh' } },
        { run: { type: 'reconnectRequested', reason: 'rotate' } },
        { connect: { fail: 'retryable' } },
        { run: { fail: 'retryable' }, close: 'throw' },
        { close: 'hang' },
      ],
      { journal },
    );
    const s = startTestSession(connector, { retry: { ...retry, maxRetries: null }, shutdownMs: 50 });
    for (let i = 0; i < 20; i++) await advance(s.clock, 1000);
    expect(s.trace.at(-1)).toBe('ready#7');
    s.actor.send({ type: 'STOP' });
    await advance(s.clock, 50);
    expect(s.states.at(-1)).toBe('stopped');
    expect(connector.totals.sessions).toBe(6);
    expect(connector.totals.closes).toBe(6);
    for (const a of connector.attempts) {
      expect(a.closeCalls).toBe(a.session ? 1 : 0);
      expect(a.signalAborted).toBe(true);
    }
    // Every close follows the abort of its attempt.
    for (const a of connector.attempts.filter((x) => x.session)) {
      const abort = journal.findIndex((e) => e.attempt === a.attempt && e.event === 'abort');
      const close = journal.findIndex((e) => e.attempt === a.attempt && e.event === 'close');
      expect(abort).toBeGreaterThanOrEqual(0);
      expect(close).toBeGreaterThan(abort);
    }
  });
});
