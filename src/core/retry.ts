import { z } from 'zod';
import { parseOptions } from './validate.js';

const nonNegativeMs = z.number().int().nonnegative();

const retryPolicyFields = z
  .object({
    maxRetries: z.number().int().nonnegative().nullable().default(10),
    initialIntervalMs: nonNegativeMs.default(500),
    maxIntervalMs: nonNegativeMs.default(30_000),
    multiplier: z.number().min(1).default(2),
    randomizationFactor: z.number().min(0).max(1).default(0.2),
    maxElapsedTimeMs: nonNegativeMs.nullable().default(null),
    /** Time a session must stay ready before its failure streak resets; default `initialIntervalMs`. */
    resetAfterMs: nonNegativeMs.optional(),
  })
  .strict();

/** The names of the retry policy's fields. */
export const RETRY_POLICY_FIELDS: readonly string[] = Object.keys(retryPolicyFields.shape);

/**
 * The retry policy of a session, as a zod schema with the defaults of DESIGN.md.
 * `maxRetries` counts retries that may follow a failure in one streak: `0` means the first failure
 * is final, `2` means at most three attempts in a row, `null` means unlimited.
 */
export const RetryPolicySchema = retryPolicyFields
  .refine((p) => p.maxIntervalMs >= p.initialIntervalMs, {
    message: 'maxIntervalMs must be at least initialIntervalMs',
    path: ['maxIntervalMs'],
  })
  .transform((p) => ({ ...p, resetAfterMs: p.resetAfterMs ?? p.initialIntervalMs }));

/** Retry policy fields as a user writes them (every field optional). */
export type RetryPolicyInput = z.input<typeof RetryPolicySchema>;
/** A resolved retry policy: every field present. */
export type RetryPolicy = z.output<typeof RetryPolicySchema>;

/** A source of uniform random numbers in [0, 1), injectable so backoff tests are deterministic. */
export type RandomSource = () => number;

/** Validates a retry policy and fills in the defaults; throws `WARDEN_INVALID_OPTIONS` naming the field. */
export function resolveRetryPolicy(input: RetryPolicyInput | undefined = {}): RetryPolicy {
  return parseOptions(RetryPolicySchema, input, 'retry policy');
}

/** The policy with every default, computed once. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = resolveRetryPolicy({});

/**
 * The delay before the k-th retry of a streak (k = 1, 2, ...):
 * `min(maxIntervalMs, initialIntervalMs × multiplier^(k−1)) × (1 + randomizationFactor × (2u − 1))`.
 */
export function backoffDelay(policy: RetryPolicy, k: number, random: RandomSource): number {
  // multiplier^(k−1) overflows to Infinity after enough failures; 0 × Infinity would be NaN.
  const base =
    policy.initialIntervalMs === 0
      ? 0
      : Math.min(policy.maxIntervalMs, policy.initialIntervalMs * policy.multiplier ** (k - 1));
  if (policy.randomizationFactor === 0) return base;
  const u = random();
  return Math.round(base * (1 + policy.randomizationFactor * (2 * u - 1)));
}

/** Where a session stands in its current failure streak. */
export interface RetryBudget {
  /** Failures in the current streak (the next retry is number `failures`). */
  readonly failures: number;
  /** When the streak's first failure happened (epoch ms); undefined before any failure. */
  readonly streakStartedAt: number | undefined;
}

/** A budget with no failures. */
export const FRESH_BUDGET: RetryBudget = { failures: 0, streakStartedAt: undefined };

/** What to do after a failure: retry after `delayMs`, or give up. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly budget: RetryBudget }
  | { readonly retry: false; readonly budget: RetryBudget };

/**
 * Records one failure at `now` and decides whether to retry.
 * `readySince` is when the session last became ready (undefined if it never did in this streak):
 * a session that stayed ready at least `resetAfterMs` starts a new streak, so one that flaps right
 * after ready keeps backing off.
 */
export function recordFailure(
  policy: RetryPolicy,
  budget: RetryBudget,
  now: number,
  readySince: number | undefined,
  random: RandomSource,
): RetryDecision {
  const reset = readySince !== undefined && now - readySince >= policy.resetAfterMs;
  const prior = reset ? FRESH_BUDGET : budget;
  const next: RetryBudget = {
    failures: prior.failures + 1,
    streakStartedAt: prior.streakStartedAt ?? now,
  };
  if (policy.maxRetries !== null && next.failures > policy.maxRetries) return { retry: false, budget: next };
  const delayMs = backoffDelay(policy, next.failures, random);
  if (
    policy.maxElapsedTimeMs !== null &&
    now + delayMs - (next.streakStartedAt ?? now) > policy.maxElapsedTimeMs
  ) {
    return { retry: false, budget: next };
  }
  return { retry: true, delayMs, budget: next };
}
