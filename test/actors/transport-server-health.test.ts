import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'xstate';
import { TransportServer } from '../../src/actors/transport-server.js';
import { isWardenError } from '../../src/core/errors.js';
import { type HealthReport, SystemHealth } from '../../src/core/health.js';
import { type EndpointHandler, newInstanceId } from '../../src/core/request-plane.js';
import { createStatusServer, type StatusServer } from '../../src/inspect/status-server.js';
import { createHttp2Server } from '../../src/transports/http2/index.js';
import { createNatsServer } from '../../src/transports/nats/index.js';
import { createTcpClient, createTcpServer, type TcpServer } from '../../src/transports/tcp/index.js';

// A transport server reports itself to health like a session: /health is 503 while a server that
// health waits for is not listening (failed, draining, stopped), and shows its failure report.

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function statusOf(
  health: SystemHealth,
): Promise<(path?: string) => Promise<{ code: number; body: HealthReport }>> {
  const status: StatusServer = await createStatusServer({ health });
  cleanup.push(() => status.close());
  return async (path = '/health') => {
    const res = await fetch(`${status.url}${path}`);
    return { code: res.status, body: (await res.json()) as HealthReport };
  };
}

/** A port that is taken: a plain listener on 127.0.0.1. */
async function takenPort(): Promise<number> {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => blocker.close(() => resolve())));
  const address = blocker.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function register(server: TransportServer, health: SystemHealth, endpoint: string, handler: EndpointHandler) {
  return server.registerEndpoint({
    namespace: 'ns',
    component: 'comp',
    endpoint,
    handler,
    instanceId: newInstanceId(),
    health,
  });
}

async function startedTcp(): Promise<TcpServer> {
  const server = createTcpServer();
  cleanup.push(() => server.stop({ drainMs: 0 }));
  await server.start();
  return server;
}

/** A transport without I/O, to drive the shared part: `crash` is a failure of the running listener. */
class FakeServer extends TransportServer {
  readonly transportName = 'tcp' as const;
  constructor(health?: SystemHealth) {
    super(health ? { health } : {}, { transport: 'tcp' });
  }
  protected async listen(): Promise<string> {
    return 'tcp://127.0.0.1:1';
  }
  protected async close(): Promise<void> {}
  crash(summary: string, code: string): void {
    this.fail(summary, code);
  }
}

describe('a transport server in /health', () => {
  it('a TCP server that cannot listen (EADDRINUSE) makes /health 503 and shows why', async () => {
    const port = await takenPort();
    const health = new SystemHealth();
    const server = createTcpServer({ port });
    server.reportHealth(health);
    const get = await statusOf(health);
    // Not listening yet: not ready.
    let res = await get();
    expect(res.code).toBe(503);
    expect(res.body.servers.tcp).toEqual({ transport: 'tcp', state: 'idle', ready: false });

    const err = await server.start().catch((e: unknown) => e);
    expect(isWardenError(err, 'WARDEN_SERVER_START_FAILED')).toBe(true);
    expect(server.state).toBe('failed');
    expect(server.isHealthy()).toBe(false);
    res = await get();
    expect(res.code).toBe(503);
    expect(res.body).toMatchObject({ status: 'notready', endpoints: {}, sessions: {} });
    expect(res.body.servers.tcp).toMatchObject({
      transport: 'tcp',
      state: 'failed',
      ready: false,
      lastFailure: { phase: 'connect', kind: 'fatal', code: 'EADDRINUSE' },
    });
    expect(res.body.servers.tcp?.lastFailure?.summary).toContain('EADDRINUSE');
    expect(res.body.servers.tcp?.lastFailure).toEqual(server.failure);
    // /live still answers: the process is alive.
    expect((await get('/live')).code).toBe(200);
  });

  it('an HTTP/2 server given the `health` option reports under its name from creation on', async () => {
    const port = await takenPort();
    const health = new SystemHealth();
    const server = createHttp2Server({ port, health, healthName: 'public-api' });
    expect(health.report().servers['public-api']).toMatchObject({ transport: 'http2', state: 'idle' });
    await expect(server.start()).rejects.toThrow(/could not start/);
    const res = await (await statusOf(health))();
    expect(res.code).toBe(503);
    expect(res.body.servers['public-api']).toMatchObject({
      state: 'failed',
      ready: false,
      lastFailure: { code: 'EADDRINUSE' },
    });
  });

  it.each([
    ['tcp', (health: SystemHealth) => createTcpServer({ health, healthName: 'api' })],
    [
      'nats',
      (health: SystemHealth) =>
        createNatsServer({ servers: 'nats://127.0.0.1:1', health, healthName: 'api' }),
    ],
  ] as const)('a %s server takes the `health` option too', async (transport, create) => {
    const health = new SystemHealth();
    const server = create(health);
    cleanup.push(() => server.stop({ drainMs: 0 }));
    expect(health.report().servers.api).toEqual({ transport, state: 'idle', ready: false });
    expect(health.isReady()).toBe(false);
  });

  it('a server that stopped leaves /health 503: its endpoints are gone and it shows as stopped', async () => {
    const health = new SystemHealth();
    const server = await startedTcp();
    // Registering an endpoint is enough: the server reports to that endpoint's health on its own.
    await register(server, health, 'echo', async (body) => body);
    const get = await statusOf(health);
    let res = await get();
    expect(res.code).toBe(200);
    expect(res.body.servers).toEqual({
      tcp: { transport: 'tcp', state: 'listening', ready: true, address: server.address() },
    });
    expect(res.body.endpoints).toEqual({ 'ns/comp/echo': { status: 'ready' } });

    await server.stop({ drainMs: 0 });
    res = await get();
    expect(res.code).toBe(503);
    expect(res.body.status).toBe('notready');
    expect(res.body.endpoints).toEqual({});
    expect(res.body.servers.tcp).toMatchObject({ state: 'stopped', ready: false });
    expect(res.body.servers.tcp?.lastFailure).toBeUndefined();
  });

  it('while a server drains, /health is 503 (server draining, endpoints notready)', async () => {
    const health = new SystemHealth();
    const server = await startedTcp();
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    await register(server, health, 'slow', async () => {
      entered();
      await gate;
      return 'done';
    });
    const client = createTcpClient();
    cleanup.push(() => client.close());
    const call = client.request(
      { address: server.address(), namespace: 'ns', component: 'comp', endpoint: 'slow' },
      {},
    );
    await inHandler;
    const get = await statusOf(health);
    const stopped = server.stop({ drainMs: 60_000 });
    await waitFor(server.actor, (s) => s.value === 'draining');
    const res = await get();
    expect(res.code).toBe(503);
    expect(res.body.servers.tcp).toMatchObject({ state: 'draining', ready: false });
    expect(res.body.endpoints['ns/comp/slow']).toEqual({ status: 'notready', reason: 'draining' });
    expect(server.isHealthy()).toBe(false);
    release();
    expect(await call).toBe('done');
    await stopped;
    expect((await get()).body.servers.tcp).toMatchObject({ state: 'stopped', ready: false });
  });

  it('a failure of a listening server reaches /health with its report', async () => {
    const health = new SystemHealth();
    const server = new FakeServer(health);
    await server.start();
    await register(server, health, 'echo', async (body) => body);
    const get = await statusOf(health);
    expect((await get()).code).toBe(200);
    server.crash('The TCP listener failed: too many open files', 'EMFILE');
    await waitFor(server.actor, (s) => s.value === 'failed');
    const res = await get();
    expect(res.code).toBe(503);
    expect(res.body.endpoints).toEqual({});
    expect(res.body.servers.tcp).toMatchObject({
      state: 'failed',
      ready: false,
      address: 'tcp://127.0.0.1:1',
      lastFailure: {
        phase: 'run',
        kind: 'fatal',
        code: 'EMFILE',
        summary: 'The TCP listener failed: too many open files',
      },
    });
  });
});

describe('how a server reports to health', () => {
  it("stops reporting to a health once that health's last endpoint is unregistered", async () => {
    const health = new SystemHealth();
    const other = new SystemHealth();
    const server = await startedTcp();
    await register(server, health, 'a', async () => 1);
    await register(server, health, 'b', async () => 2);
    await register(server, other, 'c', async () => 3);
    await server.unregisterEndpoint('a', { drainMs: 0 });
    expect(health.report().servers.tcp?.state).toBe('listening');
    await server.unregisterEndpoint('b', { drainMs: 0 });
    expect(health.report()).toMatchObject({ status: 'ready', servers: {}, endpoints: {} });
    // The other health still waits for the server: stopping it makes that one not ready.
    await server.stop({ drainMs: 0 });
    expect(health.isReady()).toBe(true);
    expect(other.isReady()).toBe(false);
    expect(other.report().servers.tcp?.state).toBe('stopped');
  });

  it('an explicit report stays after the endpoints go; its stop function removes it', async () => {
    const health = new SystemHealth();
    const server = await startedTcp();
    const stopReporting = server.reportHealth(health, { name: 'rpc' });
    await register(server, health, 'a', async () => 1);
    await server.unregisterEndpoint('a', { drainMs: 0 });
    expect(Object.keys(health.report().servers)).toEqual(['rpc']);
    stopReporting();
    expect(health.report().servers).toEqual({});
    await server.stop({ drainMs: 0 });
    expect(health.isReady()).toBe(true);
  });

  it('an optional server does not hold readiness, but still shows its state', async () => {
    const health = new SystemHealth();
    const server = await startedTcp();
    server.reportHealth(health, { required: false });
    await server.stop({ drainMs: 0 });
    expect(health.report()).toMatchObject({
      status: 'ready',
      servers: { tcp: { state: 'stopped', ready: false } },
    });
  });

  it('servers of one transport get distinct names; a server stopped before it started is forgotten', async () => {
    const health = new SystemHealth();
    const first = createTcpServer();
    const second = createTcpServer();
    first.reportHealth(health);
    second.reportHealth(health);
    expect(Object.keys(health.report().servers)).toEqual(['tcp', 'tcp-2']);
    await first.stop();
    expect(Object.keys(health.report().servers)).toEqual(['tcp-2']);
    cleanup.push(() => second.stop({ drainMs: 0 }));
    await second.start();
    expect(health.report()).toMatchObject({ status: 'ready', servers: { 'tcp-2': { state: 'listening' } } });
  });

  it('a server given a taken name replaces the entry, and the one it replaced no longer writes there', async () => {
    const port = await takenPort();
    const health = new SystemHealth();
    const broken = createTcpServer({ port });
    broken.reportHealth(health, { name: 'api' });
    await expect(broken.start()).rejects.toThrow(/EADDRINUSE/);
    expect(health.report().servers.api?.state).toBe('failed');
    // The replacement takes over the name: the failed one's entry is gone with it.
    const replacement = await startedTcp();
    replacement.reportHealth(health, { name: 'api' });
    expect(health.report()).toMatchObject({ status: 'ready', servers: { api: { state: 'listening' } } });
    const old = await startedTcp();
    old.reportHealth(health, { name: 'old' });
    old.reportHealth(health, { name: 'api' });
    replacement.reportHealth(health, { name: 'api' });
    expect(Object.keys(health.report().servers)).toEqual(['api']);
    await old.stop({ drainMs: 0 });
    expect(health.report()).toMatchObject({ status: 'ready', servers: { api: { state: 'listening' } } });
  });

  it('refuses an empty name and a health that is not a SystemHealth', () => {
    const server = createTcpServer();
    cleanup.push(() => server.stop());
    expect(() => server.reportHealth(new SystemHealth(), { name: '' })).toThrow(
      expect.objectContaining({ code: 'WARDEN_INVALID_OPTIONS' }),
    );
    expect(() => server.reportHealth({} as SystemHealth)).toThrow(
      expect.objectContaining({ code: 'WARDEN_INVALID_OPTIONS' }),
    );
    expect(() => createHttp2Server({ health: {} as SystemHealth })).toThrow(
      expect.objectContaining({ code: 'WARDEN_INVALID_OPTIONS' }),
    );
  });
});
