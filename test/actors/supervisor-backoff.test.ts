import { expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { backoffDelay, resolveRetryPolicy } from '../../src/core/retry.js';
import {
  advance,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  seededRandom,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// The supervisor's clock and random source reach its sessions: backoff is exact under SimulatedClock.
checkLeaksAfterAll();

it('nextRetryAt follows backoffDelay with the seeded random source, and the retry fires exactly then', async () => {
  const clock = new SimulatedClock();
  const retry = { initialIntervalMs: 1000, randomizationFactor: 0.5, maxRetries: null };
  const twin = seededRandom(31);
  const policy = resolveRetryPolicy(retry);
  const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    random: seededRandom(31),
    children: [{ id: 'db', connector, retry }],
  }).start();
  await flush();
  for (let k = 1; k <= 6; k++) {
    const delay = backoffDelay(policy, k, twin);
    const status = sup.status('db');
    expect(status).toMatchObject({ state: 'reconnecting', attempt: k, nextRetryAt: clock.now() + delay });
    expect(status?.lastFailure?.at).toBe(clock.now());
    await advance(clock, delay - 1);
    expect(connector.totals.connects).toBe(k);
    await advance(clock, 1);
    expect(connector.totals.connects).toBe(k + 1);
  }
  await sup.stop();
});
