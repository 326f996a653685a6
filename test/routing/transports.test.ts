/**
 * The router over real transports: TCP and NATS servers in this process, found through a
 * MemoryDiscovery, called with the clients the router creates on demand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WardenError } from '../../src/core/errors.js';
import { SystemHealth } from '../../src/core/health.js';
import {
  type EndpointHandler,
  newInstanceId,
  type RequestPlaneServer,
} from '../../src/core/request-plane.js';
import { MemoryDiscovery } from '../../src/discovery/memory.js';
import { createRouter, type RouteAttempt } from '../../src/routing/router.js';
import { createNatsServer, type NatsServer } from '../../src/transports/nats/index.js';
import { createTcpServer } from '../../src/transports/tcp/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';

const PATH = { namespace: 'shop', component: 'cart', endpoint: 'add' } as const;
const health = new SystemHealth();
let nats: NatsServerHandle;
const servers: RequestPlaneServer[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop({ drainMs: 0 }).catch(() => {})));
  await nats?.stop();
});

/** Starts a server of `transport`, registers `handler` under PATH and publishes it in `discovery`. */
async function serve(
  transport: 'tcp' | 'nats',
  discovery: MemoryDiscovery,
  handler: EndpointHandler,
): Promise<{ server: RequestPlaneServer; instanceId: string }> {
  let server: RequestPlaneServer;
  if (transport === 'tcp') server = createTcpServer();
  else {
    const n: NatsServer = createNatsServer({ servers: nats.url, retry: { initialIntervalMs: 50 } });
    server = n;
  }
  await server.start();
  if (transport === 'nats')
    await (server as NatsServer).supervisor.waitFor('connection', 'ready', { timeoutMs: 5000 });
  servers.push(server);
  const instanceId = newInstanceId();
  await server.registerEndpoint({ ...PATH, instanceId, handler, health });
  await discovery.register({ ...PATH, instanceId, transport, address: server.address(), meta: {} });
  return { server, instanceId };
}

describe('router over real transports', () => {
  it('spreads calls over TCP and NATS instances with clients it creates, and closes them', async () => {
    const discovery = new MemoryDiscovery();
    const who =
      (name: string): EndpointHandler =>
      async (body) => ({ name, body });
    await serve('tcp', discovery, who('tcp-1'));
    await serve('tcp', discovery, who('tcp-2'));
    await serve('nats', discovery, who('nats-1'));
    const router = createRouter({ discovery, mode: 'round-robin' });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const r = (await router.request(PATH, i, { timeoutMs: 5000 })) as { name: string; body: number };
      expect(r.body).toBe(i);
      counts[r.name] = (counts[r.name] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'tcp-1': 10, 'tcp-2': 10, 'nats-1': 10 });
    await router.close();
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_CLIENT_CLOSED' });
  });

  it('moves calls off a server that stopped, onto one that serves', async () => {
    const discovery = new MemoryDiscovery();
    const gone = await serve('tcp', discovery, async () => 'gone');
    await serve('tcp', discovery, async () => 'alive');
    await gone.server.stop({ drainMs: 0 }); // its record stays in discovery: only the router's try finds out
    const attempts: RouteAttempt[] = [];
    const router = createRouter({ discovery, onAttempt: (a) => attempts.push(a) });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => router.request(PATH, i)));
    expect(results).toEqual(Array(20).fill('alive'));
    const failovers = attempts.filter((a) => a.outcome === 'failover');
    expect(failovers.length).toBeGreaterThan(0);
    expect(new Set(failovers.map((a) => a.instance.instanceId))).toEqual(new Set([gone.instanceId]));
    expect(new Set(failovers.map((a) => a.code))).toEqual(new Set(['WARDEN_CONNECTION_FAILED']));
    await router.close();
  });

  it('moves calls off a NATS instance whose server left (no responders)', async () => {
    const discovery = new MemoryDiscovery();
    const gone = await serve('nats', discovery, async () => 'gone');
    await serve('tcp', discovery, async () => 'alive');
    await gone.server.stop({ drainMs: 0 });
    const router = createRouter({ discovery });
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await router.request(PATH, i, { timeoutMs: 5000 }));
    expect(results).toEqual(Array(6).fill('alive'));
    await router.close();
  });

  it('never executes a request twice once it produced a chunk', async () => {
    const discovery = new MemoryDiscovery();
    let executions = 0;
    const halfway: EndpointHandler = async function* () {
      executions++;
      yield 'first';
      throw new WardenError('WARDEN_ENDPOINT_DRAINING', 'went away mid-stream');
    };
    await serve('tcp', discovery, halfway);
    await serve('tcp', discovery, halfway);
    const router = createRouter({ discovery });
    const chunks: unknown[] = [];
    await expect(
      (async () => {
        for await (const c of router.call(PATH, null, { timeoutMs: 5000 })) chunks.push(c);
      })(),
    ).rejects.toMatchObject({ code: 'WARDEN_ENDPOINT_DRAINING' });
    expect(chunks).toEqual(['first']);
    expect(executions).toBe(1);
    await router.close();
  });
});
