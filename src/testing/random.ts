import type { RandomSource } from '../core/retry.js';

/**
 * A seeded pseudo-random source in [0, 1) (mulberry32): the same seed gives the same sequence,
 * so backoff jitter in a test is deterministic. Pass it as `random` to `createSupervisor` or to the
 * session machine's input.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const expected = seededRandom(42); // a twin to compute the expected delays
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
