import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { RestartType } from '../../src/actors/supervisor.js';
import {
  type AttemptScript,
  createScriptedConnector,
  createTestSupervisor,
  flush,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Restart types: permanent is respawned always, transient only after fatal, temporary never.
checkLeaksAfterAll();

async function endFirstIncarnation(restart: RestartType, first: AttemptScript) {
  const clock = new SimulatedClock();
  const connector = createScriptedConnector([first, {}]);
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    children: [{ id: 'child', connector, restart, retry: { maxRetries: 0 } }],
  }).start();
  const transitions: string[] = [];
  sup.on('transition', (e) => transitions.push(`${e.from}→${e.to}#${e.attempt}`));
  await flush();
  const interventions = sup.actor.getSnapshot().context.interventions.length;
  return { sup, connector, transitions, interventions };
}

const fatal: AttemptScript = { connect: { fail: 'fatal', message: 'bad credentials' } };
const stop: AttemptScript = { connect: { fail: 'stop', message: 'decommissioned' } };
const exhausted: AttemptScript = { connect: { fail: 'retryable', message: 'refused' } };

describe('permanent', () => {
  it.each([
    ['fatal', fatal],
    ['stopped (stop classification)', stop],
    ['fatal (budget exhausted)', exhausted],
  ])('is respawned after ending %s, continuing the attempt count', async (_end, first) => {
    const { sup, connector, interventions } = await endFirstIncarnation('permanent', first);
    expect(sup.status('child')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    expect(connector.attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(interventions).toBe(1);
    await sup.stop();
  });
});

describe('transient (the default)', () => {
  it('is respawned after fatal, keeping the failure that ended the first incarnation', async () => {
    const { sup, transitions } = await endFirstIncarnation('transient', fatal);
    expect(sup.status('child')).toMatchObject({
      state: 'ready',
      attempt: 2,
      restarts: 1,
      lastFailure: { kind: 'fatal', summary: 'bad credentials', attempt: 1 },
    });
    expect(transitions).toEqual([
      'connecting→fatal#1',
      'fatal→connecting#2',
      'connecting→initializing#2',
      'initializing→ready#2',
    ]);
    await sup.stop();
  });

  it('is respawned after its budget ran out', async () => {
    const { sup } = await endFirstIncarnation('transient', exhausted);
    expect(sup.status('child')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    await sup.stop();
  });

  it('is not respawned after a clean stop', async () => {
    const { sup, connector, interventions } = await endFirstIncarnation('transient', stop);
    expect(sup.status('child')).toMatchObject({ state: 'stopped', attempt: 1, restarts: 0 });
    expect(connector.totals.connects).toBe(1);
    expect(interventions).toBe(0);
    await sup.stop();
  });

  it('is what a child without a restart type gets', async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([fatal, {}]);
    const sup = createTestSupervisor({ id: 'root', clock, children: [{ id: 'child', connector }] }).start();
    await flush();
    expect(sup.status('child')).toMatchObject({ state: 'ready', restarts: 1 });
    await sup.stop();
  });
});

describe('temporary', () => {
  it.each([
    ['fatal', fatal, 'fatal'],
    ['stopped', stop, 'stopped'],
  ])('is never respawned: after %s it keeps that state', async (_end, first, state) => {
    const { sup, connector, interventions } = await endFirstIncarnation('temporary', first);
    expect(sup.status('child')).toMatchObject({ state, attempt: 1, restarts: 0 });
    expect(connector.totals.connects).toBe(1);
    expect(interventions).toBe(0);
    expect(sup.getSnapshot().state).toBe('running');
    await sup.stop();
  });

  it('keeps its last failure in status after ending fatal', async () => {
    const { sup } = await endFirstIncarnation('temporary', fatal);
    expect(sup.status('child')?.lastFailure).toMatchObject({
      phase: 'connect',
      kind: 'fatal',
      summary: 'bad credentials',
    });
    await sup.stop();
  });
});
