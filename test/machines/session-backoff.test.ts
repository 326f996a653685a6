import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/core/connector.js';
import { backoffDelay, resolveRetryPolicy } from '../../src/core/retry.js';
import {
  advance,
  cleanupTestActors,
  createScriptedConnector,
  flush,
  seededRandom,
  startTestSession,
  type TestSession,
  watchForLeaks,
} from '../../src/testing/index.js';

// Backoff delays under SimulatedClock, exactly as computed; resetAfterMs and flapping sessions.
let leaks: ReturnType<typeof watchForLeaks>;
beforeAll(() => {
  leaks = watchForLeaks();
});
afterEach(() => cleanupTestActors());
afterAll(() => {
  expect(leaks.check()).toEqual({ timers: 0, supervisors: [], sessions: 0 });
});

/** Lets the retry of a session waiting in `reconnecting` fire, returning the delay it waited. */
async function waitOutRetry(s: TestSession): Promise<number> {
  const c = s.actor.getSnapshot().context;
  expect(s.actor.getSnapshot().value).toBe('reconnecting');
  const delay = (c.nextRetryAt ?? Number.NaN) - s.clock.now();
  expect(delay).toBe(c.delayMs);
  if (delay > 0) {
    await advance(s.clock, delay - 1);
    expect(s.actor.getSnapshot().value).toBe('reconnecting');
  }
  const attempt = c.attempt;
  await advance(s.clock, 1);
  expect(s.actor.getSnapshot().context.attempt).toBe(attempt + 1);
  return delay;
}

describe('backoff delays', () => {
  it('with randomizationFactor 0 the defaults give 500, 1000, 2000, … capped at maxIntervalMs', async () => {
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
    const s = startTestSession(connector, {
      retry: { randomizationFactor: 0, maxIntervalMs: 5000, maxRetries: null },
    });
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) delays.push(await waitOutRetry(s));
    expect(delays).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });

  it.each([1, 42, 2024])('with jitter and seededRandom(%i) each delay equals backoffDelay', async (seed) => {
    const retry = { initialIntervalMs: 200, multiplier: 1.5, randomizationFactor: 0.5, maxRetries: 12 };
    const policy = resolveRetryPolicy(retry);
    const twin = seededRandom(seed);
    const expected = Array.from({ length: 12 }, (_, k) => backoffDelay(policy, k + 1, twin));
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
    const s = startTestSession(connector, { retry, random: seededRandom(seed) });
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) delays.push(await waitOutRetry(s));
    expect(delays).toEqual(expected);
    // The jitter is real: not every delay equals the un-jittered base.
    expect(delays.some((d, k) => d !== Math.min(30_000, 200 * 1.5 ** k))).toBe(true);
    // The thirteenth failure exhausts maxRetries: 12.
    expect(s.actor.getSnapshot().value).toBe('fatal');
  });

  it('status nextRetryAt is the failure time plus the delay', async () => {
    const connector = createScriptedConnector([{ connect: 'resolve', run: { fail: 'retryable' } }]);
    const s = startTestSession(connector, { retry: { initialIntervalMs: 300, randomizationFactor: 0 } });
    await advance(s.clock, 0);
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(300);
    await advance(s.clock, 300);
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(300 + 600);
  });
});

describe('resetAfterMs', () => {
  /** A connector whose run ends (disconnected) only when the test says so. */
  function controllable() {
    const endRun = new Map<number, () => void>();
    const connector = createScriptedConnector(() => ({
      run: (ctx) =>
        new Promise<RunOutcome>((resolve) =>
          endRun.set(ctx.attempt, () => resolve({ type: 'disconnected' })),
        ),
    }));
    return { connector, disconnect: (attempt: number) => endRun.get(attempt)?.() };
  }

  it('a session that fails right after ready keeps growing its delays', async () => {
    const connector = createScriptedConnector([{ run: { type: 'disconnected' } }]);
    const s = startTestSession(connector, {
      retry: { initialIntervalMs: 100, randomizationFactor: 0, maxRetries: null },
    });
    await flush();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) delays.push(await waitOutRetry(s));
    expect(delays).toEqual([100, 200, 400, 800, 1600]);
    // Every attempt reached ready before it failed: the streak grew across ready periods.
    expect(s.states.filter((v) => v === 'ready')).toHaveLength(6);
    expect(connector.attempts.every((a) => a.phases.includes('run'))).toBe(true);
  });

  it('a session ready for less than resetAfterMs keeps backing off', async () => {
    const { connector, disconnect } = controllable();
    const s = startTestSession(connector, {
      retry: { initialIntervalMs: 100, randomizationFactor: 0, resetAfterMs: 1000 },
    });
    await flush();
    await advance(s.clock, 999);
    disconnect(1);
    await flush();
    expect(await waitOutRetry(s)).toBe(100);
    await advance(s.clock, 999);
    disconnect(2);
    await flush();
    expect(await waitOutRetry(s)).toBe(200);
  });

  it('a session that stays ready for resetAfterMs restarts at initialIntervalMs', async () => {
    const { connector, disconnect } = controllable();
    const s = startTestSession(connector, {
      retry: { initialIntervalMs: 100, randomizationFactor: 0, resetAfterMs: 1000 },
    });
    await flush();
    disconnect(1);
    await flush();
    expect(await waitOutRetry(s)).toBe(100);
    disconnect(2);
    await flush();
    expect(await waitOutRetry(s)).toBe(200);
    await advance(s.clock, 1000); // attempt 3 stays ready for exactly resetAfterMs
    disconnect(3);
    await flush();
    expect(s.actor.getSnapshot().context.budget.failures).toBe(1);
    expect(await waitOutRetry(s)).toBe(100);
  });

  it('resetAfterMs defaults to initialIntervalMs', async () => {
    const { connector, disconnect } = controllable();
    const s = startTestSession(connector, { retry: { initialIntervalMs: 100, randomizationFactor: 0 } });
    await flush();
    disconnect(1);
    await flush();
    expect(await waitOutRetry(s)).toBe(100);
    await advance(s.clock, 99);
    disconnect(2);
    await flush();
    expect(await waitOutRetry(s)).toBe(200);
    await advance(s.clock, 100);
    disconnect(3);
    await flush();
    expect(await waitOutRetry(s)).toBe(100);
  });
});
