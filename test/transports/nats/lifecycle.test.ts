import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemHealth } from '../../../src/core/health.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import {
  createNatsClient,
  createNatsServer,
  NATS_SESSION_ID,
  type NatsClient,
} from '../../../src/transports/nats/index.js';
import { type NatsServerHandle, startNatsServer } from '../../helpers/nats-server.js';
import { FAST_RETRY, outcome } from './fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nats: NatsServerHandle;
let client: NatsClient;
beforeAll(async () => {
  nats = await startNatsServer();
  client = createNatsClient({ servers: nats.url });
});
afterAll(async () => {
  await client?.close();
  await nats?.stop();
});

function reg(endpoint: string, handler: (b: unknown, ctx: { signal: AbortSignal }) => Promise<unknown>) {
  return {
    namespace: 'life',
    component: 'svc',
    endpoint,
    instanceId: newInstanceId(),
    health: new SystemHealth(),
    handler,
  };
}

const target = (server: { address(): string }, endpoint: string) => ({
  address: server.address(),
  namespace: 'life',
  component: 'svc',
  endpoint,
});

describe('NATS server lifecycle', () => {
  it('refuses registration before start and after stop with WARDEN_SERVER_NOT_RUNNING', async () => {
    const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY });
    await expect(server.registerEndpoint(reg('early', async () => 1))).rejects.toMatchObject({
      code: 'WARDEN_SERVER_NOT_RUNNING',
    });
    await server.start();
    await server.stop();
    expect(server.state).toBe('stopped');
    await expect(server.registerEndpoint(reg('late', async () => 1))).rejects.toMatchObject({
      code: 'WARDEN_SERVER_NOT_RUNNING',
    });
    expect(server.isHealthy()).toBe(false);
  });

  it('unregister: no new work reaches the endpoint, in-flight calls finish within drainMs', async () => {
    const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY });
    await server.start();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready');
    const r = reg('drain', async (body) => {
      await sleep(body as number);
      return `slept ${body}`;
    });
    await server.registerEndpoint(r);
    const t = target(server, 'drain');
    const inflight = client.request(t, 150, { timeoutMs: 5000 });
    while (server.inflight === 0) await sleep(5);
    const unregistering = server.unregisterEndpoint('drain', { drainMs: 2000 });
    await sleep(30);
    // Unsubscribed: a new call finds nobody.
    expect(await outcome(client.request(t, 1, { timeoutMs: 2000 }))).toBe('WARDEN_NO_RESPONDERS');
    expect(r.health.report().endpoints['life/svc/drain']).toEqual({ status: 'notready', reason: 'draining' });
    await unregistering;
    expect(await inflight).toBe('slept 150');
    expect(server.endpoints()).toEqual([]);
    // The path can be registered again and is served.
    await server.registerEndpoint(reg('drain', async () => 'again'));
    expect(await client.request(t, null, { timeoutMs: 2000 })).toBe('again');
    await server.stop({ drainMs: 100 });
  });

  it('unregister: calls still running after drainMs are aborted with WARDEN_ENDPOINT_DRAINING', async () => {
    const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY });
    await server.start();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready');
    let aborted = false;
    await server.registerEndpoint(
      reg('straggler', async (_b, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          }),
        );
        return 'never';
      }),
    );
    const call = client.request(target(server, 'straggler'), null, { timeoutMs: 5000 });
    while (server.inflight === 0) await sleep(5);
    const started = Date.now();
    await server.unregisterEndpoint('life/svc/straggler', { drainMs: 100 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await outcome(call)).toBe('WARDEN_ENDPOINT_DRAINING');
    expect(aborted).toBe(true);
    await server.stop();
  });

  it('start() resolves without a NATS server; endpoints registered meanwhile are served once it connects', async () => {
    const later = await startNatsServer();
    await later.stop();
    const server = createNatsServer({ servers: later.url, retry: FAST_RETRY });
    await server.start();
    expect(server.state).toBe('listening');
    expect(server.address()).toBe(later.url);
    expect(server.isHealthy()).toBe(false);
    const r = reg('patient', async () => 'served');
    await server.registerEndpoint(r);
    await sleep(150);
    const status = server.supervisor.status(NATS_SESSION_ID);
    expect(['connecting', 'reconnecting']).toContain(status?.state);
    expect(status?.lastFailure?.phase).toBe('connect');
    expect(r.health.report().sessions[`nats:${server.serverId}`]?.ready).toBe(false);
    await later.restart();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
    expect(server.isHealthy()).toBe(true);
    expect(r.health.report().sessions[`nats:${server.serverId}`]?.ready).toBe(true);
    const c = createNatsClient({ servers: later.url });
    expect(await c.request(target(server, 'patient'), null, { timeoutMs: 2000 })).toBe('served');
    await c.close();
    await server.stop();
    await later.stop();
  });

  it('a client on its own connection: when that closes, calls in flight and later calls end with WARDEN_CONNECTION_CLOSED', async () => {
    const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY });
    await server.start();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready');
    await server.registerEndpoint(
      reg('hold', async () => new Promise((r) => setTimeout(() => r('late'), 500))),
    );
    const conn = await connect({ servers: nats.url });
    const own = createNatsClient({ connection: conn });
    const t = { ...target(server, 'hold'), address: 'ignored when the client has a connection' };
    const started = Date.now();
    const pending = [own.request(t, null, { timeoutMs: 5000 }), own.request(t, null, { timeoutMs: 5000 })];
    await sleep(50);
    await conn.close();
    for (const p of pending) expect(await outcome(p)).toBe('WARDEN_CONNECTION_CLOSED');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await outcome(own.request(t, null, { timeoutMs: 5000 }))).toBe('WARDEN_CONNECTION_CLOSED');
    await own.close();
    expect(await outcome(own.request(t, null, { timeoutMs: 5000 }))).toBe('WARDEN_CLIENT_CLOSED');
    await server.stop({ drainMs: 1000 });
  });

  it('stop() leaves no subscriptions, connections or timers behind', async () => {
    const probe = await connect({ servers: nats.url });
    const baseline = countResources();
    const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY });
    await server.start();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready');
    await server.registerEndpoint(reg('bye', async () => 'hi'));
    expect(await client.request(target(server, 'bye'), null, { timeoutMs: 2000 })).toBe('hi');
    const pong = await probe.request(`$SRV.PING.warden.${server.serverId}`, '', { timeout: 1000 });
    expect(pong.json<{ id: string }>().id).toBe(server.serverId);
    await server.stop();
    expect(server.supervisor.getSnapshot().state).toBe('stopped');
    expect(server.isHealthy()).toBe(false);
    // NATS knows no subscription of this server any more.
    await expect(probe.request(`$SRV.PING.warden.${server.serverId}`, '', { timeout: 1000 })).rejects.toThrow(
      /no responders/i,
    );
    expect(await outcome(client.request(target(server, 'bye'), null, { timeoutMs: 1000 }))).toBe(
      'WARDEN_NO_RESPONDERS',
    );
    await sleep(20);
    const after = countResources();
    expect(after.sockets).toBeLessThanOrEqual(baseline.sockets);
    expect(after.timers).toBeLessThanOrEqual(baseline.timers);
    await probe.close();
  });
});

function countResources(): { sockets: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    sockets: info.filter((r) => r === 'TCPSocketWrap').length,
    timers: info.filter((r) => r === 'Timeout').length,
  };
}
