import { describe, expect, it } from 'vitest';
import { advance, createScriptedConnector, flush, startTestSession } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Budget exhaustion: the session ends in `fatal` with the last failure's phase, summary and code.
checkLeaksAfterAll();

describe('retry budget exhaustion', () => {
  it('maxRetries: 2 allows three attempts, then fatal with the last error', async () => {
    const connector = createScriptedConnector((n) => ({
      connect: { fail: 'retryable', message: `connection refused #${n}`, code: 'ECONNREFUSED' },
    }));
    const s = startTestSession(connector, {
      retry: { maxRetries: 2, initialIntervalMs: 100, randomizationFactor: 0 },
    });
    await flush();
    await advance(s.clock, 100);
    await advance(s.clock, 200);
    expect(s.trace).toEqual([
      'connecting#1',
      'reconnecting#1',
      'connecting#2',
      'reconnecting#2',
      'connecting#3',
      'fatal#3',
    ]);
    expect(connector.totals.connects).toBe(3);
    const snap = s.actor.getSnapshot();
    expect(snap.output).toEqual({
      status: 'fatal',
      report: {
        phase: 'connect',
        kind: 'fatal',
        summary: 'connection refused #3',
        code: 'ECONNREFUSED',
        attempt: 3,
        at: 300,
        exhausted: true,
      },
    });
    expect(snap.context.lastFailure).toEqual(snap.output?.report);
  });

  it('maxRetries: 0 makes the first failure final', async () => {
    const connector = createScriptedConnector([{ init: { fail: 'retryable', message: 'handshake' } }]);
    const s = startTestSession(connector, { retry: { maxRetries: 0 } });
    await flush();
    expect(s.states).toEqual(['connecting', 'initializing', 'fatal']);
    expect(s.actor.getSnapshot().output?.report).toMatchObject({
      phase: 'init',
      summary: 'handshake',
      exhausted: true,
    });
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('a run phase that keeps disconnecting exhausts with code disconnected', async () => {
    const connector = createScriptedConnector([{ run: { type: 'disconnected' } }]);
    const s = startTestSession(connector, {
      retry: { maxRetries: 1, initialIntervalMs: 100, randomizationFactor: 0 },
    });
    await flush();
    await advance(s.clock, 100);
    expect(s.states.at(-1)).toBe('fatal');
    expect(s.actor.getSnapshot().output?.report).toMatchObject({
      phase: 'run',
      kind: 'fatal',
      code: 'disconnected',
      summary: 'the session disconnected',
      attempt: 2,
      exhausted: true,
    });
    // Each session was closed exactly once.
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([1, 1]);
  });

  it('maxElapsedTimeMs gives up when the next retry would end past it', async () => {
    const connector = createScriptedConnector([{ connect: { fail: 'retryable', message: 'down' } }]);
    const s = startTestSession(connector, {
      retry: { initialIntervalMs: 100, randomizationFactor: 0, maxElapsedTimeMs: 250 },
    });
    await flush(); // t=0: first failure, retry at 100 (elapsed 100 ≤ 250)
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(100);
    await advance(s.clock, 100); // t=100: second failure, retry would be at 300 > 250
    expect(s.trace).toEqual(['connecting#1', 'reconnecting#1', 'connecting#2', 'fatal#2']);
    expect(s.actor.getSnapshot().output?.report).toMatchObject({ exhausted: true, at: 100, attempt: 2 });
  });

  it('a fatal failure is not marked exhausted', async () => {
    const connector = createScriptedConnector([{ connect: { fail: 'fatal', message: 'no' } }]);
    const s = startTestSession(connector);
    await flush();
    expect(s.actor.getSnapshot().output?.report).not.toHaveProperty('exhausted');
  });
});
