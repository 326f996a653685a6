import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  FRESH_BUDGET,
  type RetryBudget,
  type RetryPolicy,
  recordFailure,
  resolveRetryPolicy,
} from '../../src/core/retry.js';
import { seededRandom } from '../../src/testing/index.js';

// Property tests of the backoff arithmetic and the retry budget.

const policyArb = fc
  .record({
    initialIntervalMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000 })),
    extra: fc.integer({ min: 0, max: 100_000 }),
    multiplier: fc.double({ min: 1, max: 5, noNaN: true }),
    randomizationFactor: fc.double({ min: 0, max: 1, noNaN: true }),
    maxRetries: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
  })
  .map(({ extra, ...p }) => resolveRetryPolicy({ ...p, maxIntervalMs: p.initialIntervalMs + extra }));

const uArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const kArb = fc.integer({ min: 1, max: 2000 });

/** The un-jittered delay of the k-th retry, as DESIGN.md defines it (0 × anything is 0). */
const base = (p: RetryPolicy, k: number) =>
  p.initialIntervalMs === 0 ? 0 : Math.min(p.maxIntervalMs, p.initialIntervalMs * p.multiplier ** (k - 1));

describe('backoffDelay', () => {
  it('stays within base × (1 ± randomizationFactor)', () => {
    fc.assert(
      fc.property(policyArb, kArb, uArb, (policy, k, u) => {
        const d = backoffDelay(policy, k, () => u);
        const b = base(policy, k);
        const f = policy.randomizationFactor;
        // Rounding to whole milliseconds moves a delay by at most half a millisecond.
        expect(d).toBeGreaterThanOrEqual(b * (1 - f) - 0.5);
        expect(d).toBeLessThanOrEqual(b * (1 + f) + 0.5);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(d)).toBe(true);
      }),
    );
  });

  it('equals the formula exactly: min(max, initial × m^(k−1)) × (1 + f × (2u − 1))', () => {
    fc.assert(
      fc.property(policyArb, kArb, uArb, (policy, k, u) => {
        const expected =
          policy.randomizationFactor === 0
            ? base(policy, k)
            : Math.round(base(policy, k) * (1 + policy.randomizationFactor * (2 * u - 1)));
        expect(backoffDelay(policy, k, () => u)).toBe(expected);
      }),
    );
  });

  it('has a monotone non-decreasing base that reaches and keeps maxIntervalMs', () => {
    fc.assert(
      fc.property(policyArb, kArb, (policy, k) => {
        const noJitter = { ...policy, randomizationFactor: 0 };
        const a = backoffDelay(noJitter, k, () => 0.5);
        const b = backoffDelay(noJitter, k + 1, () => 0.5);
        expect(b).toBeGreaterThanOrEqual(a);
        expect(b).toBeLessThanOrEqual(policy.maxIntervalMs);
      }),
    );
  });

  it('stays a number when multiplier^(k−1) overflows, even with initialIntervalMs 0', () => {
    const zero = resolveRetryPolicy({ initialIntervalMs: 0, maxIntervalMs: 0, maxRetries: null });
    expect(backoffDelay(zero, 1100, () => 0.5)).toBe(0);
    expect(backoffDelay({ ...zero, randomizationFactor: 0 }, 1100, () => 0.5)).toBe(0);
    const capped = resolveRetryPolicy({ maxIntervalMs: 60_000, randomizationFactor: 0 });
    expect(backoffDelay(capped, 5000, () => 0.5)).toBe(60_000);
  });

  it('does not call the random source when randomizationFactor is 0', () => {
    fc.assert(
      fc.property(policyArb, kArb, (policy, k) => {
        let calls = 0;
        backoffDelay({ ...policy, randomizationFactor: 0 }, k, () => {
          calls++;
          return 0.5;
        });
        expect(calls).toBe(0);
      }),
    );
  });

  it('with the defaults and no jitter gives 500, 1000, 2000, … 30000', () => {
    const p = resolveRetryPolicy({ randomizationFactor: 0 });
    const delays = Array.from({ length: 9 }, (_, i) => backoffDelay(p, i + 1, Math.random));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('is deterministic for a seeded random source', () => {
    fc.assert(
      fc.property(policyArb, fc.integer(), (policy, seed) => {
        const a = seededRandom(seed);
        const b = seededRandom(seed);
        for (let k = 1; k <= 10; k++) expect(backoffDelay(policy, k, a)).toBe(backoffDelay(policy, k, b));
      }),
    );
  });
});

/** Failures in a row at the given times, never ready in between; how many were retried. */
function streak(policy: RetryPolicy, times: number[]): { retried: number; budget: RetryBudget } {
  let budget = FRESH_BUDGET;
  let retried = 0;
  for (const t of times) {
    const d = recordFailure(policy, budget, t, undefined, () => 0.5);
    budget = d.budget;
    if (!d.retry) return { retried, budget };
    retried++;
  }
  return { retried, budget };
}

describe('recordFailure', () => {
  it('maxRetries: 0 makes the first failure final', () => {
    const d = recordFailure(resolveRetryPolicy({ maxRetries: 0 }), FRESH_BUDGET, 0, undefined, Math.random);
    expect(d.retry).toBe(false);
    expect(d.budget.failures).toBe(1);
  });

  it('maxRetries: 2 allows at most three attempts in a row', () => {
    const p = resolveRetryPolicy({ maxRetries: 2 });
    const times = [0, 1, 2, 3, 4];
    expect(streak(p, times).retried).toBe(2); // attempts 1, 2, 3; the third failure is final
  });

  it('maxRetries: n retries exactly n times in a streak; null retries forever', () => {
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }), (maxRetries) => {
        const p = resolveRetryPolicy({ maxRetries, initialIntervalMs: 1, maxIntervalMs: 1 });
        const times = Array.from({ length: 40 }, (_, i) => i * 10);
        const { retried } = streak(p, times);
        expect(retried).toBe(maxRetries === null ? 40 : maxRetries);
      }),
    );
  });

  it('counts failures and keeps the streak start', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 30 }),
        (policy, gaps) => {
          const p = { ...policy, maxRetries: null };
          let t = 0;
          let budget = FRESH_BUDGET;
          gaps.forEach((gap, i) => {
            t += gap;
            const d = recordFailure(p, budget, t, undefined, () => 0.5);
            expect(d.budget.failures).toBe(i + 1);
            expect(d.budget.streakStartedAt).toBe(gaps[0]);
            if (d.retry) expect(d.delayMs).toBe(backoffDelay(p, i + 1, () => 0.5));
            budget = d.budget;
          });
        },
      ),
    );
  });

  it('gives up exactly when now + delay − streak start exceeds maxElapsedTimeMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 20 }),
        (maxElapsedTimeMs, initialIntervalMs, gaps) => {
          const p = resolveRetryPolicy({
            maxElapsedTimeMs,
            initialIntervalMs,
            maxIntervalMs: initialIntervalMs * 16,
            randomizationFactor: 0,
            maxRetries: null,
          });
          let t = 1_000_000;
          let budget = FRESH_BUDGET;
          for (const gap of gaps) {
            t += gap;
            const start = budget.streakStartedAt ?? t;
            const delay = backoffDelay(p, budget.failures + 1, () => 0.5);
            const d = recordFailure(p, budget, t, undefined, () => 0.5);
            expect(d.retry).toBe(t + delay - start <= maxElapsedTimeMs);
            if (!d.retry) return;
            budget = d.budget;
          }
        },
      ),
    );
  });

  it('starts a new streak only after the session stayed ready for resetAfterMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 10 }),
        (resetAfterMs, readyFor, failures) => {
          const p = resolveRetryPolicy({ resetAfterMs, maxRetries: null, randomizationFactor: 0 });
          const budget: RetryBudget = { failures, streakStartedAt: 0 };
          const now = 50_000;
          const d = recordFailure(p, budget, now, now - readyFor, () => 0.5);
          const reset = readyFor >= resetAfterMs;
          expect(d.budget.failures).toBe(reset ? 1 : failures + 1);
          expect(d.budget.streakStartedAt).toBe(reset ? now : 0);
        },
      ),
    );
  });

  it('never resets the streak of a session that was not ready', () => {
    const p = resolveRetryPolicy({ resetAfterMs: 0, maxRetries: null });
    const d = recordFailure(p, { failures: 5, streakStartedAt: 0 }, 10_000, undefined, () => 0.5);
    expect(d.budget.failures).toBe(6);
  });
});
