import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/actors/supervisor.js';
import { SystemHealth } from '../../src/core/health.js';
import { createMetrics } from '../../src/inspect/metrics.js';
import {
  createStatusServer,
  type StatusServer,
  watchSupervisorHealth,
} from '../../src/inspect/status-server.js';

let server: StatusServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('status server', () => {
  it('serves /live, and /health as 200 when ready and 503 with reasons when not', async () => {
    const health = new SystemHealth();
    server = await createStatusServer({ health });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const live = await fetch(`${server.url}/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'alive' });

    health.setEndpoint('ns/comp/echo', 'ready');
    let res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ready',
      endpoints: { 'ns/comp/echo': { status: 'ready' } },
    });

    health.setEndpoint('ns/comp/echo', 'notready', 'draining');
    health.hold('warmup', 'loading');
    res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, Record<string, unknown>>;
    expect(body).toMatchObject({ status: 'notready', holds: ['warmup: loading'] });
    expect(body.endpoints['ns/comp/echo']).toEqual({ status: 'notready', reason: 'draining' });
    expect(typeof body.uptimeMs).toBe('number');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('shows supervised sessions with their failure reports in /health and in /metrics', async () => {
    const health = new SystemHealth();
    const metrics = createMetrics();
    const sup = createSupervisor({
      id: 'sys',
      children: [
        {
          id: 'db',
          connector: {
            connect: async () => {
              throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
            },
            classifyError: () => 'fatal',
            errorCode: (err) => (err as { code?: string }).code,
          },
          restart: 'temporary',
        },
      ],
    });
    const stopHealth = watchSupervisorHealth(sup, health);
    const stopMetrics = metrics.watchSupervisor(sup);
    sup.start();
    await sup.waitFor('db', 'fatal', { timeoutMs: 2000 });
    server = await createStatusServer({ health, metrics });
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, Record<string, unknown>>;
    expect(body.sessions['sys/db']).toMatchObject({
      state: 'fatal',
      ready: false,
      lastFailure: { phase: 'connect', kind: 'fatal', summary: 'connection refused', code: 'ECONNREFUSED' },
    });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('warden_session_state{supervisor="sys",child="db",state="fatal"} 1');
    expect(text).toContain('warden_session_state{supervisor="sys",child="db",state="ready"} 0');
    stopHealth();
    stopMetrics();
    await sup.stop();
  });

  it('counts requests, errors by code and durations through a server observer', async () => {
    const metrics = createMetrics();
    const observer = metrics.observer('tcp');
    observer.requestStarted('ns/comp/echo');
    observer.requestEnded('ns/comp/echo', undefined, 3);
    observer.requestStarted('ns/comp/echo');
    observer.requestEnded('ns/comp/echo', 'WARDEN_DEADLINE_EXCEEDED', 50);
    observer.bytes('ns/comp/echo', 'in', 64);
    observer.bytes('ns/comp/echo', 'out', 10);
    observer.bytes('ns/comp/echo', 'out', 5);
    const text = await metrics.text();
    expect(text).toContain('warden_requests_total{transport="tcp",path="ns/comp/echo"} 2');
    expect(text).toContain(
      'warden_request_errors_total{transport="tcp",path="ns/comp/echo",code="WARDEN_DEADLINE_EXCEEDED"} 1',
    );
    expect(text).toContain('warden_requests_in_flight{transport="tcp",path="ns/comp/echo"} 0');
    expect(text).toContain('warden_request_duration_seconds_count{transport="tcp",path="ns/comp/echo"} 2');
    expect(text).toContain('warden_bytes_total{transport="tcp",path="ns/comp/echo",direction="in"} 64');
    expect(text).toContain('warden_bytes_total{transport="tcp",path="ns/comp/echo",direction="out"} 15');
  });

  it('refuses bad options with a clear error', async () => {
    await expect(createStatusServer({ health: new SystemHealth(), port: 70000 })).rejects.toThrow(/port/);
  });
});
