import { describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/core/connector.js';
import {
  advance,
  createScriptedConnector,
  flush,
  seededRandom,
  startTestSession,
  type TestSession,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Backoff delays under SimulatedClock, exactly as computed; resetAfterMs and flapping sessions.
checkLeaksAfterAll();

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
    s.actor.stop();
  });

  it.each([1, 42, 2024])(
    'with jitter and seededRandom(%i) each delay follows the DESIGN formula',
    async (seed) => {
      const initialIntervalMs = 200;
      const multiplier = 1.5;
      const randomizationFactor = 0.5;
      const maxIntervalMs = 2000;
      const retry = { initialIntervalMs, multiplier, randomizationFactor, maxIntervalMs, maxRetries: 12 };
      // DESIGN.md: the k-th retry waits
      //   min(maxIntervalMs, initialIntervalMs × multiplier^(k−1)) × (1 + randomizationFactor × (2u − 1))
      // with u from the random source, one draw per retry (a twin of the session's source).
      const twin = seededRandom(seed);
      const formula = Array.from({ length: 12 }, (_, i) => {
        const k = i + 1;
        const u = twin();
        return (
          Math.min(maxIntervalMs, initialIntervalMs * multiplier ** (k - 1)) *
          (1 + randomizationFactor * (2 * u - 1))
        );
      });
      const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
      const s = startTestSession(connector, { retry, random: seededRandom(seed) });
      await flush();
      const delays: number[] = [];
      for (let i = 0; i < 12; i++) delays.push(await waitOutRetry(s));
      // Timers run in whole milliseconds: each delay is the formula's value rounded.
      expect(delays).toEqual(formula.map(Math.round));
      // The cap and the jitter are both exercised: some bases are capped, and jitter moves the delays.
      expect(
        formula.filter((_, i) => initialIntervalMs * multiplier ** i > maxIntervalMs).length,
      ).toBeGreaterThan(0);
      expect(delays.some((d, i) => d !== Math.min(maxIntervalMs, initialIntervalMs * multiplier ** i))).toBe(
        true,
      );
      // The thirteenth failure exhausts maxRetries: 12.
      expect(s.actor.getSnapshot().value).toBe('fatal');
    },
  );

  it('status nextRetryAt is the failure time plus the delay', async () => {
    const connector = createScriptedConnector([{ connect: 'resolve', run: { fail: 'retryable' } }]);
    const s = startTestSession(connector, { retry: { initialIntervalMs: 300, randomizationFactor: 0 } });
    await advance(s.clock, 0);
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(300);
    await advance(s.clock, 300);
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(300 + 600);
    s.actor.stop();
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
    s.actor.stop();
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
    s.actor.stop();
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
    s.actor.stop();
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
    s.actor.stop();
  });
});
