/**
 * Transport servers given a `discovery` publish each endpoint once it can serve and withdraw it
 * before it drains: on unregisterEndpoint and on stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportServer } from '../../src/actors/transport-server.js';
import { SystemHealth } from '../../src/core/health.js';
import { newInstanceId } from '../../src/core/request-plane.js';
import { MemoryDiscovery } from '../../src/discovery/memory.js';
import { createHttp2Server } from '../../src/transports/http2/index.js';
import { createNatsServer, type NatsServer } from '../../src/transports/nats/index.js';
import { createTcpClient } from '../../src/transports/tcp/index.js';
import { createTcpServer } from '../../src/transports/tcp/server.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';

const PATH = { namespace: 'pub', component: 'svc', endpoint: 'slow' } as const;
let nats: NatsServerHandle;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const makers: Array<[string, (d: MemoryDiscovery) => TransportServer]> = [
  ['tcp', (discovery) => createTcpServer({ discovery, meta: { zone: 'z1' } })],
  ['http2', (discovery) => createHttp2Server({ discovery, meta: { zone: 'z1' } })],
  [
    'nats',
    (discovery) =>
      createNatsServer({
        servers: nats.url,
        discovery,
        meta: { zone: 'z1' },
        retry: { initialIntervalMs: 50 },
      }),
  ],
];

describe('transport servers publish to discovery', () => {
  for (const [name, make] of makers) {
    it(`${name}: publishes after it can serve, withdraws on unregister and on stop`, async () => {
      const discovery = new MemoryDiscovery();
      const server = make(discovery);
      await server.start();
      if (name === 'nats') {
        await (server as unknown as NatsServer).supervisor.waitFor('connection', 'ready', {
          timeoutMs: 5000,
        });
      }
      const instanceId = newInstanceId();
      const health = new SystemHealth();
      await server.registerEndpoint({ ...PATH, instanceId, health, handler: async () => 'ok' });
      await server.registerEndpoint({
        ...PATH,
        endpoint: 'other',
        instanceId,
        health,
        handler: async () => 'ok',
      });
      expect(await discovery.list(PATH)).toEqual([
        { ...PATH, instanceId, transport: name, address: server.address(), meta: { zone: 'z1' } },
      ]);
      await server.unregisterEndpoint(`${PATH.namespace}/${PATH.component}/${PATH.endpoint}`, { drainMs: 0 });
      expect(await discovery.list({ namespace: 'pub' })).toMatchObject([{ endpoint: 'other', instanceId }]);
      await server.stop({ drainMs: 0 });
      expect(await discovery.list({ namespace: 'pub' })).toEqual([]);
    });
  }

  it('withdraws before draining: a call in flight finishes after the record is gone', async () => {
    const discovery = new MemoryDiscovery();
    const server = createTcpServer({ discovery });
    await server.start();
    const instanceId = newInstanceId();
    let release: () => void = () => {};
    const started = new Promise<void>((resolveStarted) => {
      void server.registerEndpoint({
        ...PATH,
        instanceId,
        health: new SystemHealth(),
        handler: () =>
          new Promise((resolve) => {
            resolveStarted();
            release = () => resolve('finished');
          }),
      });
    });
    await new Promise((r) => setTimeout(r, 20));
    const client = createTcpClient();
    const call = client.request({ address: server.address(), ...PATH }, null, { timeoutMs: 5000 });
    await started;
    const stopping = server.stop({ drainMs: 5000 });
    const until = Date.now() + 2000;
    while ((await discovery.list(PATH)).length > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 5));
    expect(await discovery.list(PATH)).toEqual([]); // withdrawn while the call still runs
    release();
    expect(await call).toBe('finished');
    await stopping;
    await client.close();
  });
});
