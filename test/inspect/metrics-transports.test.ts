import { afterEach, describe, expect, it } from 'vitest';
import type { TransportServer } from '../../src/actors/transport-server.js';
import { isWardenError } from '../../src/core/errors.js';
import { SystemHealth } from '../../src/core/health.js';
import {
  type CallTarget,
  type EndpointHandler,
  newInstanceId,
  type RequestPlaneClient,
} from '../../src/core/request-plane.js';
import { createMetrics, type Metrics } from '../../src/inspect/metrics.js';
import { createStatusServer, type StatusServer } from '../../src/inspect/status-server.js';
import { createHttp2Client, createHttp2Server } from '../../src/transports/http2/index.js';
import { createNatsClient, createNatsServer, NATS_SESSION_ID } from '../../src/transports/nats/index.js';
import { createTcpClient, createTcpServer } from '../../src/transports/tcp/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { sample, samples } from '../helpers/prometheus.js';

// Real calls over each transport feed every request series of /metrics: requests, durations,
// in-flight, errors by code, and payload bytes in and out per endpoint path.

const NS = 'shop';
const COMP = 'cart';
const BODY = { sku: 'ä-123', qty: 2, note: 'bytes are UTF-8' };
const ROWS = [{ i: 1 }, { i: 22 }, { i: 333 }];
const utf8 = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

interface Env {
  readonly server: TransportServer;
  readonly client: RequestPlaneClient;
  close(): Promise<void>;
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Registers the endpoints, makes the calls, and returns the /metrics text read over HTTP. */
async function exercise(
  transport: string,
  metrics: Metrics,
  env: Env,
): Promise<{ during: string; after: string }> {
  cleanup.push(() => env.close());
  const status: StatusServer = await createStatusServer({ health: new SystemHealth(), metrics });
  cleanup.push(() => status.close());
  let entered!: () => void;
  const inHandler = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const handlers: Record<string, EndpointHandler> = {
    echo: async (body) => body,
    rows: async function* () {
      yield* ROWS;
    },
    boom: async () => {
      throw new Error('nope');
    },
    hold: async () => {
      entered();
      await gate;
      return 'held';
    },
  };
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  for (const [endpoint, handler] of Object.entries(handlers)) {
    await env.server.registerEndpoint({
      namespace: NS,
      component: COMP,
      endpoint,
      handler,
      instanceId,
      health,
    });
  }
  const target = (endpoint: string): CallTarget => ({
    address: env.server.address(),
    namespace: NS,
    component: COMP,
    endpoint,
  });
  const { client } = env;
  expect(await client.request(target('echo'), BODY)).toEqual(BODY);
  expect(await client.request(target('echo'), BODY)).toEqual(BODY);
  const rows: unknown[] = [];
  for await (const row of client.call(target('rows'), null)) rows.push(row);
  expect(rows).toEqual(ROWS);
  const boom = await client.request(target('boom'), {}).catch((err: unknown) => err);
  expect(isWardenError(boom, 'WARDEN_HANDLER_ERROR')).toBe(true);
  // Not found (TCP, HTTP/2) or no responders (NATS): either way no handler ran.
  const missing = await client.request(target('missing'), BODY).catch((err: unknown) => err);
  expect(isWardenError(missing)).toBe(true);

  const held = client.request(target('hold'), {});
  await inHandler;
  const during = await (await fetch(`${status.url}/metrics`)).text();
  release();
  expect(await held).toBe('held');
  const after = await (await fetch(`${status.url}/metrics`)).text();
  expect(sample(after, 'warden_requests_total', { transport, path: `${NS}/${COMP}/hold` })).toBe(1);
  return { during, after };
}

/** The assertions every transport must pass. */
function expectRequestSeries(transport: string, during: string, text: string): void {
  const path = (endpoint: string) => ({ transport, path: `${NS}/${COMP}/${endpoint}` });
  // Requests and durations, per endpoint.
  expect(sample(text, 'warden_requests_total', path('echo'))).toBe(2);
  expect(sample(text, 'warden_requests_total', path('rows'))).toBe(1);
  expect(sample(text, 'warden_requests_total', path('boom'))).toBe(1);
  expect(sample(text, 'warden_request_duration_seconds_count', path('echo'))).toBe(2);
  expect(sample(text, 'warden_request_duration_seconds_count', path('boom'))).toBe(1);
  expect(sample(text, 'warden_request_duration_seconds_sum', path('echo'))).toBeGreaterThan(0);
  expect(sample(text, 'warden_request_duration_seconds_bucket', { ...path('echo'), le: '+Inf' })).toBe(2);
  // In flight: 1 while the held call was in its handler, 0 once it ended.
  expect(sample(during, 'warden_requests_in_flight', path('hold'))).toBe(1);
  expect(sample(text, 'warden_requests_in_flight', path('hold'))).toBe(0);
  expect(sample(text, 'warden_requests_in_flight', path('echo'))).toBe(0);
  // Errors by code, only where they happened.
  expect(sample(text, 'warden_request_errors_total', { ...path('boom'), code: 'WARDEN_HANDLER_ERROR' })).toBe(
    1,
  );
  expect(samples(text, 'warden_request_errors_total')).toHaveLength(1);
  // Payload bytes: request bodies in, response chunks out, exactly (JSON text in UTF-8).
  const bytes = (endpoint: string, direction: 'in' | 'out') =>
    sample(text, 'warden_bytes_total', { ...path(endpoint), direction });
  expect(bytes('echo', 'out')).toBe(2 * utf8(BODY));
  expect(bytes('rows', 'out')).toBe(ROWS.reduce((n, r) => n + utf8(r), 0));
  expect(bytes('echo', 'in')).toBe(2 * utf8(BODY));
  expect(bytes('rows', 'in')).toBe(utf8(null));
  // A path nobody registered is not a series: callers cannot grow the metrics.
  for (const name of ['warden_bytes_total', 'warden_requests_total', 'warden_request_errors_total'])
    expect(samples(text, name).filter((s) => s.labels.path?.endsWith('/missing'))).toEqual([]);
}

describe('/metrics fed by real calls', () => {
  it('over TCP', async () => {
    const metrics = createMetrics();
    const server = createTcpServer({ observer: metrics.observer('tcp') });
    await server.start();
    const client = createTcpClient();
    const { during, after } = await exercise('tcp', metrics, {
      server,
      client,
      close: async () => {
        await client.close();
        await server.stop({ drainMs: 100 });
      },
    });
    expectRequestSeries('tcp', during, after);
  });

  it('over TCP, a large raw chunk (written without a copy) counts its bytes too', async () => {
    const metrics = createMetrics();
    const server = createTcpServer({ observer: metrics.observer('tcp') });
    await server.start();
    const client = createTcpClient();
    cleanup.push(async () => {
      await client.close();
      await server.stop({ drainMs: 100 });
    });
    const big = new Uint8Array(64 * 1024).fill(7);
    await server.registerEndpoint({
      namespace: NS,
      component: COMP,
      endpoint: 'blob',
      instanceId: newInstanceId(),
      health: new SystemHealth(),
      handler: async (body) => ((body as Uint8Array).length === 3 ? big : new Uint8Array(0)),
    });
    const out = await client.request(
      { address: server.address(), namespace: NS, component: COMP, endpoint: 'blob' },
      new Uint8Array([1, 2, 3]),
    );
    expect((out as Uint8Array).length).toBe(big.length);
    const text = await metrics.text();
    const path = { transport: 'tcp', path: `${NS}/${COMP}/blob` };
    expect(sample(text, 'warden_bytes_total', { ...path, direction: 'in' })).toBe(3);
    expect(sample(text, 'warden_bytes_total', { ...path, direction: 'out' })).toBe(big.length);
  });

  it('over HTTP/2', async () => {
    const metrics = createMetrics();
    const server = createHttp2Server({ observer: metrics.observer('http2') });
    await server.start();
    const client = createHttp2Client();
    const { during, after } = await exercise('http2', metrics, {
      server,
      client,
      close: async () => {
        await client.close();
        await server.stop({ drainMs: 100 });
      },
    });
    expectRequestSeries('http2', during, after);
  });

  describe('over NATS', () => {
    let nats: NatsServerHandle | undefined;
    afterEach(async () => {
      await nats?.stop();
      nats = undefined;
    });

    it('requests, durations, in-flight, errors and bytes in and out', async () => {
      nats = await startNatsServer();
      const metrics = createMetrics();
      const server = createNatsServer({
        servers: nats.url,
        observer: metrics.observer('nats'),
        retry: { initialIntervalMs: 50, maxIntervalMs: 200, randomizationFactor: 0 },
      });
      await server.start();
      await server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
      const client = createNatsClient({ servers: nats.url });
      const { during, after } = await exercise('nats', metrics, {
        server,
        client,
        close: async () => {
          await client.close();
          await server.stop({ drainMs: 100 });
        },
      });
      expectRequestSeries('nats', during, after);
    });
  });
});
