/**
 * Transport servers given a `discovery` publish each endpoint once it can serve and withdraw it
 * before it drains: on unregisterEndpoint and on stop.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TransportServer } from '../../src/actors/transport-server.js';
import { isWardenError } from '../../src/core/errors.js';
import { SystemHealth } from '../../src/core/health.js';
import { newInstanceId, type RequestPlaneClient } from '../../src/core/request-plane.js';
import type { Discovery, InstanceRecord } from '../../src/discovery/discovery.js';
import { MemoryDiscovery } from '../../src/discovery/memory.js';
import { createHttp2Client, createHttp2Server } from '../../src/transports/http2/index.js';
import {
  createNatsClient,
  createNatsServer,
  NATS_SESSION_ID,
  type NatsServer,
} from '../../src/transports/nats/index.js';
import { createTcpClient, createTcpServer } from '../../src/transports/tcp/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';

const PATH = { namespace: 'pub', component: 'svc', endpoint: 'slow' } as const;
const PATH_TEXT = `${PATH.namespace}/${PATH.component}/${PATH.endpoint}`;
let nats: NatsServerHandle;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

interface Transport {
  readonly name: 'tcp' | 'http2' | 'nats';
  server(discovery: Discovery): TransportServer;
  client(): RequestPlaneClient;
  /** What a new call to a draining endpoint gets. */
  readonly drainingCodes: readonly string[];
}

const TRANSPORTS: Transport[] = [
  {
    name: 'tcp',
    server: (discovery) => createTcpServer({ discovery, meta: { zone: 'z1' } }),
    client: () => createTcpClient(),
    drainingCodes: ['WARDEN_ENDPOINT_DRAINING'],
  },
  {
    name: 'http2',
    server: (discovery) => createHttp2Server({ discovery, meta: { zone: 'z1' } }),
    client: () => createHttp2Client(),
    drainingCodes: ['WARDEN_ENDPOINT_DRAINING'],
  },
  {
    name: 'nats',
    server: (discovery) =>
      createNatsServer({
        servers: nats.url,
        discovery,
        meta: { zone: 'z1' },
        retry: { initialIntervalMs: 50 },
      }),
    client: () => createNatsClient({ servers: nats.url }),
    // Unsubscribed before it drains: a new call finds no responder.
    drainingCodes: ['WARDEN_NO_RESPONDERS', 'WARDEN_ENDPOINT_DRAINING'],
  },
];

/** Starts `server` and, for NATS, waits until its session is connected (endpoints subscribe at once). */
async function started(t: Transport, server: TransportServer): Promise<void> {
  await server.start();
  if (t.name === 'nats')
    await (server as NatsServer).supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
}

/**
 * A discovery whose `register` calls the instance it is told of, through a real client, before it
 * returns: a router that sees the record at once must find the endpoint serving.
 */
class CallingDiscovery extends MemoryDiscovery {
  readonly outcomes: Array<{ instanceId: string; result?: unknown; error?: string }> = [];
  constructor(private readonly client: RequestPlaneClient) {
    super();
  }
  override async register(instance: InstanceRecord): Promise<void> {
    const { address, namespace, component, endpoint, instanceId } = instance;
    try {
      const result = await this.client.request(
        { address, namespace, component, endpoint, instanceId },
        { from: 'register' },
        { timeoutMs: 3000 },
      );
      this.outcomes.push({ instanceId, result });
    } catch (err) {
      this.outcomes.push({
        instanceId,
        error: isWardenError(err) ? `${err.code}: ${err.message}` : String(err),
      });
    }
    await super.register(instance);
  }
}

/** A handler that reports each call and answers only when released. */
function gate(): {
  handler: () => Promise<string>;
  started: Promise<void>;
  release(): void;
} {
  let onStart: () => void = () => {};
  const startedP = new Promise<void>((r) => {
    onStart = r;
  });
  const waiting: Array<(v: string) => void> = [];
  return {
    handler: () =>
      new Promise<string>((resolve) => {
        waiting.push(resolve);
        onStart();
      }),
    started: startedP,
    release: () => {
      for (const w of waiting.splice(0)) w('finished');
    },
  };
}

describe('transport servers publish to discovery', () => {
  for (const t of TRANSPORTS) {
    it(`${t.name}: publishes after it can serve, withdraws on unregister and on stop`, async () => {
      const discovery = new MemoryDiscovery();
      const server = t.server(discovery);
      await started(t, server);
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
        { ...PATH, instanceId, transport: t.name, address: server.address(), meta: { zone: 'z1' } },
      ]);
      await server.unregisterEndpoint(PATH_TEXT, { drainMs: 0 });
      expect(await discovery.list({ namespace: 'pub' })).toMatchObject([{ endpoint: 'other', instanceId }]);
      await server.stop({ drainMs: 0 });
      expect(await discovery.list({ namespace: 'pub' })).toEqual([]);
    });

    it(`${t.name}: the record appears only once a call to it is served`, async () => {
      const client = t.client();
      const discovery = new CallingDiscovery(client);
      const server = t.server(discovery);
      try {
        await started(t, server);
        const instanceId = newInstanceId();
        await server.registerEndpoint({
          ...PATH,
          instanceId,
          health: new SystemHealth(),
          handler: async (body: unknown) => ({ served: body }),
        });
        // register() ran once, and its call was served, not refused (unknown endpoint, no responders).
        expect(discovery.outcomes).toEqual([{ instanceId, result: { served: { from: 'register' } } }]);
        expect(await discovery.list(PATH)).toMatchObject([{ instanceId, transport: t.name }]);
      } finally {
        await server.stop({ drainMs: 0 });
        await client.close();
      }
    });

    for (const how of ['unregisterEndpoint', 'stop'] as const) {
      it(`${t.name}: ${how} withdraws before draining: a call in flight finishes after the record is gone`, async () => {
        const discovery = new MemoryDiscovery();
        const server = t.server(discovery);
        const client = t.client();
        const slow = gate();
        try {
          await started(t, server);
          const instanceId = newInstanceId();
          await server.registerEndpoint({
            ...PATH,
            instanceId,
            health: new SystemHealth(),
            handler: slow.handler,
          });
          const target = { address: server.address(), ...PATH, instanceId };
          let settled = false;
          const call = client.request(target, null, { timeoutMs: 10_000 }).finally(() => {
            settled = true;
          });
          await slow.started;
          const leaving =
            how === 'stop'
              ? server.stop({ drainMs: 10_000 })
              : server.unregisterEndpoint(PATH_TEXT, { drainMs: 10_000 });
          // Withdrawn while the call still runs: the drain waits for it, so withdrawing after the
          // drain would leave the record listed until this wait gives up.
          await vi.waitFor(
            async () => {
              expect(await discovery.list(PATH), 'still listed while draining').toEqual([]);
            },
            { timeout: 3000, interval: 5 },
          );
          expect(settled, 'the call in flight ended before it was released').toBe(false);
          if (how === 'unregisterEndpoint') {
            // Draining, not serving: a new call is refused while the old one runs on.
            const refused = await client.request(target, null, { timeoutMs: 3000 }).then(
              () => 'served',
              (err: unknown) => (isWardenError(err) ? err.code : String(err)),
            );
            expect(t.drainingCodes).toContain(refused);
          }
          slow.release();
          expect(await call).toBe('finished');
          await leaving;
        } finally {
          slow.release(); // a failed assertion must not leave the drain waiting for the handler
          await server.stop({ drainMs: 0 });
          await client.close();
        }
      });
    }
  }
});
