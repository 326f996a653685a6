/**
 * Shared set-up of the NATS transport tests: a real nats-server, a warden NATS server on it with a
 * fast retry policy, and a client.
 */
import { SystemHealth } from '../../../src/core/health.js';
import type { CallTarget } from '../../../src/core/request-plane.js';
import {
  type EndpointHandler,
  type EndpointRegistration,
  newInstanceId,
} from '../../../src/core/request-plane.js';
import {
  createNatsClient,
  createNatsServer,
  type NatsClient,
  type NatsServer,
  type NatsServerOptions,
} from '../../../src/transports/nats/index.js';
import { type NatsServerHandle, startNatsServer } from '../../helpers/nats-server.js';

/** Retry fast and exactly in tests. */
export const FAST_RETRY = { initialIntervalMs: 50, maxIntervalMs: 200, randomizationFactor: 0 } as const;

export interface Fixture {
  nats: NatsServerHandle;
  server: NatsServer;
  client: NatsClient;
  health: SystemHealth;
  /** Registers an endpoint `test/svc/{name}` and returns a call target for it. */
  register(
    endpoint: string,
    handler: EndpointHandler,
    extra?: Partial<EndpointRegistration>,
  ): Promise<CallTarget & { instanceId: string }>;
  close(): Promise<void>;
}

/** Starts nats-server, a warden NATS server (ready) and a client. */
export async function setup(options: NatsServerOptions = {}): Promise<Fixture> {
  const nats = await startNatsServer();
  const server = createNatsServer({ servers: nats.url, retry: FAST_RETRY, drainMs: 1000, ...options });
  await server.start();
  await server.supervisor.waitFor('connection', 'ready', { timeoutMs: 5000 });
  const client = createNatsClient({ servers: nats.url });
  const health = new SystemHealth();
  return {
    nats,
    server,
    client,
    health,
    async register(endpoint, handler, extra = {}) {
      const instanceId = extra.instanceId ?? newInstanceId();
      await server.registerEndpoint({
        namespace: 'test',
        component: 'svc',
        endpoint,
        handler,
        instanceId,
        health,
        ...extra,
      });
      return {
        address: server.address(),
        namespace: extra.namespace ?? 'test',
        component: extra.component ?? 'svc',
        endpoint,
        instanceId,
      };
    },
    async close() {
      await client.close();
      await server.stop({ drainMs: 100 });
      await nats.stop();
    },
  };
}

/** Settles `p` and returns its error code, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}
