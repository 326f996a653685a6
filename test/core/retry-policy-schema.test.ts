import { describe, expect, it } from 'vitest';
import { isWardenError, WardenError } from '../../src/core/errors.js';
import {
  DEFAULT_RETRY_POLICY,
  type RetryPolicyInput,
  RetryPolicySchema,
  resolveRetryPolicy,
} from '../../src/core/retry.js';

// The retry policy schema: defaults, and validation errors that name the field.

function errorOf(input: unknown): WardenError {
  try {
    resolveRetryPolicy(input as RetryPolicyInput);
  } catch (err) {
    if (err instanceof WardenError) return err;
    throw err;
  }
  throw new Error('expected resolveRetryPolicy to throw');
}

describe('retry policy defaults', () => {
  it('are the values of DESIGN.md', () => {
    expect(resolveRetryPolicy({})).toEqual({
      maxRetries: 10,
      initialIntervalMs: 500,
      maxIntervalMs: 30_000,
      multiplier: 2,
      randomizationFactor: 0.2,
      maxElapsedTimeMs: null,
      resetAfterMs: 500,
    });
    expect(resolveRetryPolicy(undefined)).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('resetAfterMs defaults to initialIntervalMs, and can be set on its own', () => {
    expect(resolveRetryPolicy({ initialIntervalMs: 1234 }).resetAfterMs).toBe(1234);
    expect(resolveRetryPolicy({ initialIntervalMs: 1234, resetAfterMs: 10 }).resetAfterMs).toBe(10);
  });

  it('accepts null for maxRetries and maxElapsedTimeMs (unlimited)', () => {
    const p = resolveRetryPolicy({ maxRetries: null, maxElapsedTimeMs: null });
    expect(p.maxRetries).toBeNull();
    expect(p.maxElapsedTimeMs).toBeNull();
  });
});

describe('retry policy validation', () => {
  it.each<[string, unknown]>([
    ['maxRetries', { maxRetries: -1 }],
    ['maxRetries', { maxRetries: 1.5 }],
    ['initialIntervalMs', { initialIntervalMs: 'fast' }],
    ['initialIntervalMs', { initialIntervalMs: -10 }],
    ['maxIntervalMs', { maxIntervalMs: -1 }],
    ['maxIntervalMs', { initialIntervalMs: 1000, maxIntervalMs: 10 }],
    ['multiplier', { multiplier: 0.5 }],
    ['randomizationFactor', { randomizationFactor: 1.5 }],
    ['randomizationFactor', { randomizationFactor: -0.1 }],
    ['maxElapsedTimeMs', { maxElapsedTimeMs: -5 }],
    ['resetAfterMs', { resetAfterMs: -5 }],
    ['maxAttempts', { maxAttempts: 3 }],
  ])('names the field %s', (field, input) => {
    const err = errorOf(input);
    expect(isWardenError(err, 'WARDEN_INVALID_OPTIONS')).toBe(true);
    expect(err.name).toBe('WardenError');
    expect(err.message).toContain('retry policy');
    expect(err.message).toContain(field);
    expect(err.cause).toBeDefined();
  });

  it.each<unknown>([
    { maxRetries: -1 },
    { multiplier: 'fast' },
    { randomizationFactor: 1.5 },
    { initialIntervalMs: 1000, maxIntervalMs: 10 },
    { maxElapsedTimeMs: 2.5, resetAfterMs: -1 },
  ])('names each field with the rule it broke, as zod words it: %j', (input) => {
    const parsed = RetryPolicySchema.safeParse(input);
    if (parsed.success) throw new Error('expected an invalid policy');
    const rules = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(errorOf(input).message).toBe(`Invalid retry policy: ${rules.join('; ')}`);
  });

  it('words the rules so a person can fix the policy', () => {
    expect(errorOf({ randomizationFactor: 1.5 }).message).toMatch(/randomizationFactor: .*<=\s?1\b/);
    expect(errorOf({ maxRetries: -1 }).message).toMatch(/maxRetries: .*>=\s?0\b/);
    expect(errorOf({ initialIntervalMs: 1000, maxIntervalMs: 10 }).message).toContain(
      'maxIntervalMs: maxIntervalMs must be at least initialIntervalMs',
    );
  });

  it('lists every invalid field, each with its path, in details', () => {
    const err = errorOf({ maxRetries: -1, multiplier: 0 });
    const issues = err.details?.issues as Array<{ path: string; message: string }>;
    expect(issues.map((i) => i.path).sort()).toEqual(['maxRetries', 'multiplier']);
    expect(err.message).toMatch(/maxRetries: .+; multiplier: .+|multiplier: .+; maxRetries: .+/);
  });

  it('rejects a value that is not an object, naming the root', () => {
    const err = errorOf(42);
    expect(err.code).toBe('WARDEN_INVALID_OPTIONS');
    expect(err.message).toContain('(root)');
  });
});
