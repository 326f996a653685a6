import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildStatus, SupervisorSnapshot } from '../../src/actors/supervisor.js';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor.js';
import { SystemHealth } from '../../src/core/health.js';
import { newInstanceId } from '../../src/core/request-plane.js';
import {
  createDashboard,
  type Dashboard,
  type DashboardDiff,
  type DashboardSnapshot,
} from '../../src/inspect/dashboard.js';
import { createMetrics } from '../../src/inspect/metrics.js';
import { APP_SCRIPT } from '../../src/inspect/page/app.js';
import { DIAGRAM_SCRIPT } from '../../src/inspect/page/diagram.js';
import { createScriptedConnector, type Script } from '../../src/testing/scripted-connector.js';
import { createTcpClient, createTcpServer, type TcpServer } from '../../src/transports/tcp/index.js';
import { openEvents } from './sse-reader.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track<T>(thing: T, stop: (t: T) => unknown): T {
  cleanups.push(() => stop(thing));
  return thing;
}

async function startDashboard(options: Parameters<typeof createDashboard>[0]): Promise<Dashboard> {
  return track(await createDashboard(options), (d) => d.close());
}

function supervisorWith(ids: readonly string[], script: Script = [{ run: 'manual' }]): Supervisor {
  const sup = createSupervisor({
    id: 'plant',
    children: ids.map((id) => ({
      id,
      connector: createScriptedConnector(script, { name: id }),
      retry: { initialIntervalMs: 60_000, maxIntervalMs: 60_000, randomizationFactor: 0 },
    })),
  });
  return track(sup, (s) => s.stop({ timeoutMs: 5000 }));
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string> },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function echoServer(health: SystemHealth): Promise<TcpServer> {
  const server = track(createTcpServer(), (s) => s.stop({ drainMs: 0 }));
  await server.start();
  await server.registerEndpoint({
    namespace: 'plant',
    component: 'plc',
    endpoint: 'read',
    instanceId: newInstanceId(),
    health,
    handler: async (body: unknown) => body,
  });
  return server;
}

describe('dashboard: the page', () => {
  it('serves one self-contained page: inline script and style, nothing from elsewhere', async () => {
    const dashboard = await startDashboard({ title: 'plant <one>' });
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(dashboard.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('<title>plant &#60;one&#62; · warden dashboard</title>');
    // No external stylesheet, script, font or image: every src/href is local.
    const refs = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).toMatch(/^\//);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:|<script[^>]+src=/);
    expect((await fetch(`${dashboard.url}favicon.svg`)).headers.get('content-type')).toBe('image/svg+xml');
  });

  it('ships scripts that parse as plain browser JavaScript', () => {
    expect(() => new Function(DIAGRAM_SCRIPT)).not.toThrow();
    expect(() => new Function(APP_SCRIPT)).not.toThrow();
    expect(DIAGRAM_SCRIPT + APP_SCRIPT).not.toMatch(/https?:\/\//);
  });
});

describe('dashboard: /api/snapshot', () => {
  it('shows supervisors with nested children, servers with endpoints, machines, timeline and health', async () => {
    const health = new SystemHealth();
    const server = await echoServer(health);
    const sup = track(
      createSupervisor({
        id: 'plant',
        children: [
          {
            id: 'plc',
            connector: createScriptedConnector([
              { connect: { fail: 'retryable', message: 'refused', code: 'ECONNREFUSED' } },
              {},
            ]),
            retry: { initialIntervalMs: 10, randomizationFactor: 0 },
          },
          {
            id: 'line',
            supervisor: { children: [{ id: 'robot', connector: createScriptedConnector([{}]) }] },
          },
        ],
      }),
      (s) => s.stop(),
    ).start();
    await sup.waitFor('plc', 'ready');
    const dashboard = await startDashboard({ supervisors: [sup], servers: [server], health });
    // The timeline starts with the dashboard: it holds what happened since.
    expect(sup.reconnect('plc', 'test')).toBe(true);
    await sup.waitFor('plc', 'ready');
    const { status, body } = await getJson(`${dashboard.url}api/snapshot`);
    expect(status).toBe(200);
    const snap = body as DashboardSnapshot;
    expect(Object.keys(snap.machines)).toEqual(['session', 'supervisor', 'transport-server']);
    expect(snap.machines.session?.initial).toBe('connecting');
    expect(snap.actions).toBe(true);
    const tree = snap.supervisors[0] as SupervisorSnapshot;
    expect(tree).toMatchObject({ id: 'plant', state: 'running', strategy: 'one-for-one' });
    expect(tree.children.map((c) => [c.id, c.kind])).toEqual([
      ['plc', 'session'],
      ['line', 'supervisor'],
    ]);
    const plc = tree.children[0]?.status as ChildStatus;
    expect(plc).toMatchObject({ state: 'ready', attempt: 3 });
    expect(plc.lastFailure).toMatchObject({
      phase: 'connect',
      kind: 'retryable',
      summary: 'refused',
      code: 'ECONNREFUSED',
    });
    expect(tree.children[1]?.supervisor?.children[0]?.id).toBe('robot');
    expect(snap.servers).toHaveLength(1);
    expect(snap.servers[0]).toMatchObject({
      id: 'tcp#1',
      transport: 'tcp',
      state: 'listening',
      healthy: true,
      address: server.address(),
    });
    expect(snap.servers[0]?.endpoints[0]).toMatchObject({ path: 'plant/plc/read', inflight: 0, requests: 0 });
    expect(snap.health?.endpoints['plant/plc/read']).toEqual({ status: 'ready' });
    expect(
      snap.timeline.filter((e) => e.key === 'plant/plc').map((e) => `${e.key}: ${e.from} → ${e.to}`),
    ).toEqual([
      'plant/plc: ready → connecting',
      'plant/plc: connecting → initializing',
      'plant/plc: initializing → ready',
    ]);
  });

  it('serves /health, /live and /metrics beside its own routes, with its own health when none is given', async () => {
    const metrics = createMetrics();
    const sup = supervisorWith(['plc']).start();
    metrics.watchSupervisor(sup);
    await sup.waitFor('plc', 'ready');
    const dashboard = await startDashboard({ supervisors: [sup], metrics });
    expect(await getJson(`${dashboard.url}live`)).toEqual({ status: 200, body: { status: 'alive' } });
    const health = await getJson(`${dashboard.url}health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ready',
      sessions: { 'plant/plc': { state: 'ready', ready: true } },
    });
    const text = await (await fetch(`${dashboard.url}metrics`)).text();
    expect(text).toContain('warden_session_state{supervisor="plant",child="plc",state="ready"} 1');
    expect((await getJson(`${dashboard.url}nope`)).status).toBe(404);
    const mmd = await fetch(`${dashboard.url}api/machines/session.mmd`);
    expect((await mmd.text()).startsWith('stateDiagram-v2\n')).toBe(true);
  });
});

describe('dashboard: /events', () => {
  it('sends a snapshot, then batches with new states, failure reports and timeline entries', async () => {
    const connector = createScriptedConnector([{ run: 'manual' }], { name: 'plc' });
    const sup = track(
      createSupervisor({
        id: 'plant',
        children: [
          {
            id: 'plc',
            connector,
            retry: { initialIntervalMs: 60_000, maxIntervalMs: 60_000, randomizationFactor: 0 },
          },
        ],
      }),
      (s) => s.stop(),
    ).start();
    await sup.waitFor('plc', 'ready');
    const dashboard = await startDashboard({ supervisors: [sup] });
    const events = track(await openEvents(`${dashboard.url}events`), (e) => e.close());
    expect(events.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const first = await events.next(() => true);
    expect(first.event).toBe('snapshot');
    expect((first.data as DashboardSnapshot).supervisors[0]?.children[0]?.status.state).toBe('ready');

    expect(connector.endRun(1, { fail: 'retryable', message: 'read ECONNRESET', code: 'ECONNRESET' })).toBe(
      true,
    );
    const diff = await events.next(
      (e) => e.event === 'diff' && (e.data as DashboardDiff).timeline.length > 0,
    );
    const d = diff.data as DashboardDiff;
    expect(d.children).toContainEqual(
      expect.objectContaining({
        key: 'plant/plc',
        status: expect.objectContaining({ state: 'reconnecting' }),
      }),
    );
    expect(d.timeline[0]).toMatchObject({
      kind: 'child',
      key: 'plant/plc',
      from: 'ready',
      to: 'reconnecting',
      failure: { phase: 'run', kind: 'retryable', summary: 'read ECONNRESET', code: 'ECONNRESET' },
    });
    expect(d.health?.sessions['plant/plc']).toMatchObject({ state: 'reconnecting', ready: false });
  });

  it('batches 1,000 sessions into at most ~10 updates a second', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `s${String(i).padStart(4, '0')}`);
    const sup = supervisorWith(ids, [{}]);
    const dashboard = await startDashboard({ supervisors: [sup] });
    const events = track(await openEvents(`${dashboard.url}events`), (e) => e.close());
    await events.next((e) => e.event === 'snapshot');
    const t0 = performance.now();
    sup.start();
    const ready = new Set<string>();
    await events.next(
      (e) => {
        if (e.event !== 'diff') return false;
        for (const c of (e.data as DashboardDiff).children) if (c.status.state === 'ready') ready.add(c.key);
        return ready.size === ids.length;
      },
      { timeoutMs: 15_000 },
    );
    const elapsed = performance.now() - t0;
    const diffs = events.events.filter((e) => e.event === 'diff');
    // 3,000 transitions (connecting, initializing, ready per session) arrive in a few batches.
    expect(diffs.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 2);
    // Batches leave the server about 100 ms apart (read on the server's clock: the reader here
    // shares the event loop and may read two at once).
    const sentAt = diffs.map((e) => (e.data as DashboardDiff).now);
    for (let i = 1; i < sentAt.length; i++)
      expect((sentAt[i] as number) - (sentAt[i - 1] as number)).toBeGreaterThanOrEqual(50);
    const snap = (await getJson(`${dashboard.url}api/snapshot`)).body as DashboardSnapshot;
    expect(snap.supervisors[0]?.children).toHaveLength(1000);
  }, 30_000);

  it('sends a fresh snapshot when children are added, and counters of servers as they change', async () => {
    const health = new SystemHealth();
    const server = await echoServer(health);
    const sup = supervisorWith(['plc']).start();
    const dashboard = await startDashboard({ supervisors: [sup], servers: [server], health });
    const events = track(await openEvents(`${dashboard.url}events`), (e) => e.close());
    await events.next((e) => e.event === 'snapshot');
    sup.add({ id: 'scale', connector: createScriptedConnector([{}]) });
    const again = await events.next((e) => e.event === 'snapshot', { from: 1 });
    expect((again.data as DashboardSnapshot).supervisors[0]?.children.map((c) => c.id)).toEqual([
      'plc',
      'scale',
    ]);

    const client = track(createTcpClient(), (c) => c.close());
    await client.request(
      { address: server.address(), namespace: 'plant', component: 'plc', endpoint: 'read' },
      { n: 1 },
    );
    const counted = await events.next(
      (e) => e.event === 'diff' && (e.data as DashboardDiff).servers?.[0]?.endpoints[0]?.requests === 1,
      { timeoutMs: 3000 },
    );
    expect((counted.data as DashboardDiff).servers?.[0]?.endpoints[0]).toMatchObject({
      path: 'plant/plc/read',
      requests: 1,
      errors: 0,
    });
  });

  it('close() ends every stream and stops the server', async () => {
    const sup = supervisorWith(['plc']).start();
    const dashboard = await createDashboard({ supervisors: [sup] });
    const a = await openEvents(`${dashboard.url}events`);
    const b = await openEvents(`${dashboard.url}events`);
    await a.next((e) => e.event === 'snapshot');
    await b.next((e) => e.event === 'snapshot');
    await dashboard.close();
    await Promise.all([a.ended, b.ended]);
    await expect(fetch(`${dashboard.url}api/snapshot`)).rejects.toThrow();
    await dashboard.close(); // twice is fine
  });
});

describe('dashboard: actions', () => {
  it('reconnects and restarts direct children on POST from the page, and refuses other callers', async () => {
    const sup = supervisorWith(['plc']).start();
    await sup.waitFor('plc', 'ready');
    const dashboard = await startDashboard({ supervisors: [sup] });
    const url = `${dashboard.url}api/children/plant/plc/reconnect`;
    // A plain cross-site form POST carries no custom header: refused before anything happens.
    expect((await getJson(url, { method: 'POST' })).status).toBe(403);
    expect(sup.status('plc')?.attempt).toBe(1);
    const headers = { 'x-warden-action': '1' };
    const res = await getJson(url, { method: 'POST', headers });
    expect(res).toMatchObject({ status: 200, body: { ok: true } });
    await sup.waitFor('plc', 'ready');
    expect(sup.status('plc')?.attempt).toBe(2);
    const restart = await getJson(`${dashboard.url}api/children/plant/plc/restart`, {
      method: 'POST',
      headers,
    });
    expect(restart).toMatchObject({ status: 200, body: { ok: true } });
    expect(sup.status('plc')?.restarts).toBe(1);
    expect(
      (await getJson(`${dashboard.url}api/children/plant/nope/reconnect`, { method: 'POST', headers }))
        .status,
    ).toBe(404);
    expect(
      (await getJson(`${dashboard.url}api/children/other/plc/reconnect`, { method: 'POST', headers })).status,
    ).toBe(404);
    expect(
      (
        await getJson(`${dashboard.url}api/children/plant/line%2Frobot/reconnect`, {
          method: 'POST',
          headers,
        })
      ).status,
    ).toBe(400);
    expect(
      (await getJson(url, { method: 'POST', headers: { ...headers, origin: 'http://evil.example' } })).status,
    ).toBe(403);
    expect((await getJson(url, { method: 'GET' })).status).toBe(405);
  });

  it('answers only to loopback Host names (no DNS rebinding) and can turn actions off', async () => {
    const sup = supervisorWith(['plc']).start();
    const dashboard = await startDashboard({ supervisors: [sup], actions: false });
    expect(await rawRequest(`${dashboard.url}api/snapshot`, { headers: { host: 'evil.example:80' } })).toBe(
      403,
    );
    expect(
      await rawRequest(`${dashboard.url}api/snapshot`, { headers: { host: `localhost:${dashboard.port}` } }),
    ).toBe(200);
    const post = await getJson(`${dashboard.url}api/children/plant/plc/reconnect`, {
      method: 'POST',
      headers: { 'x-warden-action': '1' },
    });
    expect(post).toMatchObject({ status: 403, body: { code: 'ACTIONS_DISABLED' } });
    const snap = (await getJson(`${dashboard.url}api/snapshot`)).body as DashboardSnapshot;
    expect(snap.actions).toBe(false);
  });

  it('validates its options', async () => {
    await expect(createDashboard({ port: -1 })).rejects.toMatchObject({ code: 'WARDEN_INVALID_OPTIONS' });
    await expect(createDashboard({ supervisors: [{} as Supervisor] })).rejects.toThrow(
      /supervisors\.0: must be a Supervisor/,
    );
  });
});
