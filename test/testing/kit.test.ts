import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { isWardenError } from '../../src/core/errors.js';
import { sessionMachine } from '../../src/machines/session.js';
import {
  cleanupTestActors,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  type Journal,
  recordStates,
  ScriptedError,
  seededRandom,
  startTestSession,
  waitForChildState,
  waitForSessionState,
  waitForSupervisorState,
  watchForLeaks,
} from '../../src/testing/index.js';

// The test kit itself: scripts, records, waits and the seeded random source.
let leaks: ReturnType<typeof watchForLeaks>;
beforeAll(() => {
  leaks = watchForLeaks();
});
afterEach(() => {
  vi.useRealTimers();
  return cleanupTestActors();
});
afterAll(() => {
  expect(leaks.check()).toEqual({ timers: 0, supervisors: [], sessions: 0 });
});

describe('createScriptedConnector', () => {
  it('uses entry attempt−1 of the script, repeating the last entry', async () => {
    const connector = createScriptedConnector([
      { connect: { fail: 'retryable', message: 'one' } },
      { init: { fail: 'retryable', message: 'two' } },
    ]);
    const s = startTestSession(connector, { retry: { initialIntervalMs: 0, maxRetries: 3 } });
    await flush();
    expect(connector.attempts.map((a) => [a.attempt, a.phases])).toEqual([
      [1, ['connect']],
      [2, ['connect', 'init']],
      [3, ['connect', 'init']],
      [4, ['connect', 'init']],
    ]);
    expect(s.actor.getSnapshot().output?.report?.summary).toBe('two');
  });

  it('accepts a function of the attempt number', async () => {
    const connector = createScriptedConnector((n) => (n < 3 ? { connect: { fail: 'retryable' } } : {}));
    const s = startTestSession(connector, { retry: { initialIntervalMs: 0 } });
    await flush();
    expect(s.actor.getSnapshot().value).toBe('ready');
    expect(connector.totals).toEqual({ connects: 3, inits: 1, runs: 1, sessions: 1, closes: 0 });
    s.actor.stop();
  });

  it('classifies ScriptedError by its kind and code, anything else by classifyOther', () => {
    const connector = createScriptedConnector([], { classifyOther: 'fatal' });
    expect(connector.classifyError('run', new ScriptedError('stop', 'x', 'E1'))).toBe('stop');
    expect(connector.errorCode?.(new ScriptedError('stop', 'x', 'E1'))).toBe('E1');
    expect(connector.classifyError('run', new Error('other'))).toBe('fatal');
    expect(createScriptedConnector([]).classifyError('run', new Error('other'))).toBe('retryable');
  });

  it('journals what every connector did, in order, and counts closes per attempt', async () => {
    const journal: Journal = [];
    const connector = createScriptedConnector([{ run: { type: 'disconnected' } }, {}], {
      journal,
      name: 'j',
    });
    const s = startTestSession(connector, { retry: { initialIntervalMs: 0 } });
    await flush();
    expect(journal.map((e) => `${e.connector}:${e.event}#${e.attempt}`)).toEqual([
      'j:connect#1',
      'j:init#1',
      'j:run#1',
      'j:abort#1',
      'j:close#1',
      'j:connect#2',
      'j:init#2',
      'j:run#2',
    ]);
    expect(connector.closeCalls(1)).toBe(1);
    expect(connector.closeCalls(2)).toBe(0);
    expect(connector.closeCalls()).toBe(1);
    expect(s.actor.getSnapshot().context.handle).toEqual({ connector: 'j', attempt: 2 });
    s.actor.stop();
  });

  it('endRun ends a manual run and returns false when no manual run is pending', async () => {
    const connector = createScriptedConnector([{ run: 'manual' }, { init: 'hang' }], {
      handle: (n) => `handle-${n}`,
    });
    const s = startTestSession(connector, { retry: { initialIntervalMs: 0 } });
    await flush();
    expect(s.actor.getSnapshot().context.handle).toBe('handle-1');
    expect(connector.endRun(2, { type: 'disconnected' })).toBe(false);
    expect(connector.endRun(1, { type: 'disconnected' })).toBe(true);
    expect(connector.endRun(1, { type: 'disconnected' })).toBe(false);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1', 'connecting#2', 'initializing#2']);
    s.actor.stop();
  });
});

describe('wait helpers', () => {
  it('waitForSessionState resolves with the snapshot in that state', async () => {
    const clock = new SimulatedClock();
    const actor = createActor(sessionMachine, {
      clock,
      input: { connector: createScriptedConnector([{}]), now: () => clock.now() },
    });
    const states = recordStates(actor);
    actor.start();
    const snap = await waitForSessionState(actor, 'ready', { timeoutMs: 1000 });
    expect(snap.value).toBe('ready');
    expect(states.values).toEqual(['connecting', 'initializing', 'ready']);
    states.stop();
    actor.stop();
  });

  it('waitForSessionState rejects at once when the session ended elsewhere', async () => {
    // The wait's own timeout is a real timer: faked and never advanced, it cannot be what ends the wait.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const s = startTestSession(createScriptedConnector([{ connect: { fail: 'fatal', message: 'denied' } }]));
    const waiting = waitForSessionState(s.actor, 'ready', { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(vi.getTimerCount()).toBe(1);
    const err = await waiting;
    // Settled with its timer still pending and then cleared: the session's end rejected it.
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
    expect(isWardenError(err, 'WARDEN_TIMEOUT')).toBe(true);
    expect((err as Error).message).toBe(
      "Awaited session state 'ready' but the actor ended first; it is 'fatal' (last failure: denied)",
    );
  });

  it('waitForSessionState rejects with WARDEN_TIMEOUT naming both states after timeoutMs', async () => {
    const s = startTestSession(createScriptedConnector([{ init: 'hang' }]));
    const err = await waitForSessionState(s.actor, 'ready', { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(isWardenError(err, 'WARDEN_TIMEOUT')).toBe(true);
    expect((err as Error).message).toContain("'ready'");
    expect((err as Error).message).toContain("'initializing'");
    expect((err as Error).message).toContain('20 ms');
    s.actor.stop();
  });

  it('waitForSupervisorState and waitForChildState follow a supervisor', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'db', connector: createScriptedConnector([{}]) }],
    });
    sup.start();
    expect((await waitForSupervisorState(sup, 'running')).state).toBe('running');
    expect((await waitForChildState(sup, 'db', 'ready')).attempt).toBe(1);
    const stopping = sup.stop();
    expect((await waitForSupervisorState(sup, 'stopped')).children[0]?.status.state).toBe('stopped');
    await stopping;
  });
});

describe('seededRandom', () => {
  it('repeats for a seed, differs between seeds, and stays in [0, 1)', () => {
    const take = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 1000 }, () => r());
    };
    expect(take(7)).toEqual(take(7));
    expect(take(7)).not.toEqual(take(8));
    for (const u of take(123)) {
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
    const mean = take(99).reduce((a, b) => a + b, 0) / 1000;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});
