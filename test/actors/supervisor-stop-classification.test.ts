import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { FailurePhase } from '../../src/core/failure.js';
import {
  type AttemptScript,
  createScriptedConnector,
  createTestSupervisor,
  flush,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// A `stop` classification is a clean, intended end: never shown as a failure by the supervisor.
checkLeaksAfterAll();

const stopIn: Record<FailurePhase, AttemptScript> = {
  connect: { connect: { fail: 'stop', message: 'not wanted' } },
  init: { init: { fail: 'stop', message: 'not wanted' } },
  run: { run: { fail: 'stop', message: 'not wanted' } },
};

describe.each(['connect', 'init', 'run'] as const)('stop classified in %s', (phase) => {
  it('ends the child stopped, with no failure anywhere', async () => {
    const clock = new SimulatedClock();
    const sibling = createScriptedConnector([{}], { name: 'sibling' });
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      strategy: 'one-for-all',
      children: [
        { id: 'sibling', connector: sibling },
        { id: 'child', connector: createScriptedConnector([stopIn[phase]]) },
      ],
    }).start();
    const seen: string[] = [];
    sup.on('failed', (e) => seen.push(`failed:${e.child}`));
    sup.on('down', (e) => seen.push(`down:${e.child}`));
    sup.on('transition', (e) => {
      if (e.failure) seen.push(`failure:${e.child}:${e.failure.kind}`);
    });
    await flush();
    const status = sup.status('child');
    expect(status?.state).toBe('stopped');
    expect(status).not.toHaveProperty('lastFailure');
    expect(seen).toEqual([]);
    // Not down, so one-for-all left the sibling alone, and nothing was respawned.
    expect(sup.status('sibling')).toMatchObject({ state: 'ready', attempt: 1, restarts: 0 });
    expect(status?.restarts).toBe(0);
    expect(sup.actor.getSnapshot().context.interventions).toEqual([]);
    await sup.stop();
  });
});

it('a stop after earlier retryable failures is not recorded as a failure', async () => {
  const clock = new SimulatedClock();
  const connector = createScriptedConnector([
    { connect: { fail: 'retryable', message: 'refused' } },
    { connect: { fail: 'stop', message: 'not wanted' } },
  ]);
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    children: [{ id: 'child', connector, retry: { initialIntervalMs: 0 } }],
  }).start();
  const failed: string[] = [];
  sup.on('failed', (e) => failed.push(e.child));
  await flush();
  expect(sup.status('child')?.state).toBe('stopped');
  expect(sup.status('child')?.attempt).toBe(2);
  // lastFailure is history (attempt 1's refusal), never the stop.
  expect(sup.status('child')?.lastFailure).toMatchObject({
    kind: 'retryable',
    attempt: 1,
    summary: 'refused',
  });
  expect(failed).toEqual([]);
  await sup.stop();
});
