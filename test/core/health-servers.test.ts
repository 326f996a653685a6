import { describe, expect, it } from 'vitest';
import { createFailureReport } from '../../src/core/failure.js';
import { SystemHealth } from '../../src/core/health.js';

// SystemHealth keeps transport servers beside endpoints and sessions: a required server is ready
// only while listening, and its failure report travels to the report.

describe('SystemHealth servers', () => {
  it('is ready with a required server only while that server is listening', () => {
    const health = new SystemHealth(() => 1000);
    expect(health.isReady()).toBe(true);
    for (const state of ['idle', 'starting', 'draining', 'stopped', 'failed']) {
      health.setServer('tcp', { transport: 'tcp', state });
      expect([state, health.isReady()]).toEqual([state, false]);
      expect(health.report().servers.tcp).toEqual({ transport: 'tcp', state, ready: false });
    }
    health.setServer('tcp', { transport: 'tcp', state: 'listening', address: 'tcp://127.0.0.1:7000' });
    expect(health.isReady()).toBe(true);
    expect(health.report()).toMatchObject({
      status: 'ready',
      servers: {
        tcp: { transport: 'tcp', state: 'listening', ready: true, address: 'tcp://127.0.0.1:7000' },
      },
    });
  });

  it('keeps the failure report, and an optional server never holds readiness', () => {
    const health = new SystemHealth();
    const report = createFailureReport({
      phase: 'connect',
      kind: 'fatal',
      summary: 'listen EADDRINUSE: address already in use 127.0.0.1:7000',
      code: 'EADDRINUSE',
      attempt: 1,
      at: 5,
    });
    health.setServer('admin', { transport: 'http2', state: 'failed', lastFailure: report }, false);
    expect(health.isReady()).toBe(true);
    expect(health.report().servers.admin).toEqual({
      transport: 'http2',
      state: 'failed',
      ready: false,
      lastFailure: report,
    });
    health.setServer('api', { transport: 'tcp', state: 'failed', lastFailure: report });
    expect(health.report().status).toBe('notready');
    expect(health.hasServer('api')).toBe(true);
    health.removeServer('api');
    expect(health.hasServer('api')).toBe(false);
    expect(health.report().status).toBe('ready');
  });

  it('tells its listeners about server changes', () => {
    const health = new SystemHealth();
    let changes = 0;
    health.subscribe(() => changes++);
    health.setServer('tcp', { transport: 'tcp', state: 'listening' });
    health.removeServer('tcp');
    health.removeServer('tcp');
    expect(changes).toBe(2);
  });

  it('answers what it knows of one session', () => {
    const health = new SystemHealth();
    expect(health.session('sys/db')).toBeUndefined();
    health.setSession('sys/db', 'ready');
    expect(health.session('sys/db')).toEqual({ state: 'ready', ready: true });
  });
});
