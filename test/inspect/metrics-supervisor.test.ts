import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { SystemHealth } from '../../src/core/health.js';
import { createMetrics } from '../../src/inspect/metrics.js';
import { watchSupervisorHealth } from '../../src/inspect/status-server.js';
import {
  cleanupTestActors,
  createScriptedConnector,
  createTestSupervisor,
  flush,
} from '../../src/testing/index.js';
import { sample } from '../helpers/prometheus.js';

// metrics.watchSupervisor follows the whole tree (nested supervisors too) and its restarts.

afterEach(() => cleanupTestActors());

function tree(clock: SimulatedClock) {
  // 'db' fails fatally in its first attempt and, being transient, is respawned once; then it is ready.
  const db = createScriptedConnector([{ connect: { fail: 'fatal', message: 'bad password' } }, {}]);
  return createTestSupervisor({
    id: 'sys',
    clock,
    intensity: { maxRestarts: 10, periodMs: 60_000 },
    children: [
      { id: 'api', connector: createScriptedConnector([{}]) },
      {
        id: 'group',
        supervisor: {
          intensity: { maxRestarts: 10, periodMs: 60_000 },
          children: [
            { id: 'db', connector: db, restart: 'transient' },
            { id: 'cache', connector: createScriptedConnector([{}]) },
          ],
        },
      },
    ],
  });
}

describe('metrics.watchSupervisor', () => {
  it("shows a nested supervisor's sessions and its restarts, as they are at each scrape", async () => {
    const metrics = createMetrics();
    const sup = tree(new SimulatedClock());
    // Watched before start: children met later (and nested ones) must still show.
    const stop = metrics.watchSupervisor(sup);
    sup.start();
    await flush(10);
    expect(sup.getSnapshot().children.find((c) => c.id === 'group')?.supervisor?.children).toEqual([
      expect.objectContaining({ id: 'db', status: expect.objectContaining({ state: 'ready', restarts: 1 }) }),
      expect.objectContaining({ id: 'cache', status: expect.objectContaining({ state: 'ready' }) }),
    ]);
    let text = await metrics.text();
    const state = (supervisor: string, child: string, s: string) =>
      sample(text, 'warden_session_state', { supervisor, child, state: s });
    expect(state('sys/group', 'db', 'ready')).toBe(1);
    expect(state('sys/group', 'db', 'fatal')).toBe(0);
    expect(state('sys/group', 'cache', 'ready')).toBe(1);
    expect(state('sys', 'group', 'ready')).toBe(1);
    expect(state('sys', 'api', 'ready')).toBe(1);
    // The nested child was respawned once after its fatal first attempt.
    expect(sample(text, 'warden_session_restarts', { supervisor: 'sys/group', child: 'db' })).toBe(1);
    expect(sample(text, 'warden_session_restarts', { supervisor: 'sys', child: 'api' })).toBe(0);

    // A restart of a direct child counts.
    await sup.restart('api');
    await flush(10);
    text = await metrics.text();
    expect(sample(text, 'warden_session_restarts', { supervisor: 'sys', child: 'api' })).toBe(1);
    expect(sample(text, 'warden_session_restarts', { supervisor: 'sys', child: 'api' })).toBe(
      sup.status('api')?.restarts,
    );
    expect(state('sys', 'api', 'ready')).toBe(1);

    // A removed child disappears from the metrics; after stop() nothing of this tree is shown.
    await sup.remove('api');
    text = await metrics.text();
    expect(state('sys', 'api', 'ready')).toBeUndefined();
    stop();
    text = await metrics.text();
    expect(state('sys/group', 'db', 'ready')).toBeUndefined();
    await sup.stop();
  });

  it('shows a nested session that is down, with its state, in /health and in /metrics', async () => {
    const metrics = createMetrics();
    const health = new SystemHealth();
    const sup = createTestSupervisor({
      id: 'sys',
      clock: new SimulatedClock(),
      children: [
        {
          id: 'group',
          supervisor: {
            children: [
              {
                id: 'db',
                restart: 'temporary',
                connector: createScriptedConnector([{ connect: { fail: 'fatal', code: 'EAUTH' } }]),
              },
            ],
          },
        },
      ],
    });
    const stopMetrics = metrics.watchSupervisor(sup);
    const stopHealth = watchSupervisorHealth(sup, health);
    sup.start();
    await flush(10);
    const text = await metrics.text();
    expect(
      sample(text, 'warden_session_state', { supervisor: 'sys/group', child: 'db', state: 'fatal' }),
    ).toBe(1);
    const report = health.report();
    expect(report.status).toBe('notready');
    expect(report.sessions['sys/group/db']).toMatchObject({
      state: 'fatal',
      ready: false,
      lastFailure: { phase: 'connect', kind: 'fatal', code: 'EAUTH' },
    });
    stopMetrics();
    stopHealth();
    await sup.stop();
  });

  it('follows the tree of a supervisor that is already running when watched', async () => {
    const metrics = createMetrics();
    const health = new SystemHealth();
    const sup = tree(new SimulatedClock());
    sup.start();
    await flush(10);
    const stopMetrics = metrics.watchSupervisor(sup);
    const stopHealth = watchSupervisorHealth(sup, health);
    const text = await metrics.text();
    expect(
      sample(text, 'warden_session_state', { supervisor: 'sys/group', child: 'cache', state: 'ready' }),
    ).toBe(1);
    expect(health.report().sessions['sys/group/cache']).toEqual({ state: 'ready', ready: true });
    stopMetrics();
    stopHealth();
    await sup.stop();
  });
});
