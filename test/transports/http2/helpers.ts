/**
 * Shared set-up for the HTTP/2 transport tests: a server on 127.0.0.1 port 0 with endpoints,
 * a raw `node:http2` request helper (to check the wire as another implementation sees it),
 * polling and failure helpers.
 */
import { connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { ZodType } from 'zod';
import { isWardenError, type WardenError } from '../../../src/core/errors.js';
import { SystemHealth } from '../../../src/core/health.js';
import { type CallTarget, type EndpointHandler, newInstanceId } from '../../../src/core/request-plane.js';
import {
  createHttp2Client,
  createHttp2Server,
  type Http2Client,
  type Http2ClientOptions,
  type Http2Server,
  type Http2ServerOptions,
} from '../../../src/transports/http2/index.js';

export const NS = 'ns';
export const COMP = 'comp';

/** A started server, its health and instance id, and a client; `close()` stops both. */
export interface Fixture {
  readonly server: Http2Server;
  readonly client: Http2Client;
  readonly health: SystemHealth;
  readonly instanceId: string;
  register(endpoint: string, handler: EndpointHandler, schema?: ZodType): Promise<void>;
  target(endpoint: string, extra?: Partial<CallTarget>): CallTarget;
  close(): Promise<void>;
}

/** Starts a server with `options` and a client with `clientOptions`. */
export async function startFixture(
  options: Http2ServerOptions = {},
  clientOptions: Http2ClientOptions = {},
): Promise<Fixture> {
  const server = createHttp2Server(options);
  await server.start();
  const client = createHttp2Client(clientOptions);
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  return {
    server,
    client,
    health,
    instanceId,
    register: (endpoint, handler, schema) =>
      server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint,
        handler,
        instanceId,
        health,
        ...(schema ? { schema } : {}),
      }),
    target: (endpoint, extra = {}) => ({
      address: server.address(),
      namespace: NS,
      component: COMP,
      endpoint,
      ...extra,
    }),
    close: async () => {
      await client.close();
      await server.stop({ drainMs: 50 });
    },
  };
}

/** The `WardenError` a promise rejects with; fails the test if it resolves or throws anything else. */
export async function failure(promise: Promise<unknown>): Promise<WardenError> {
  try {
    await promise;
  } catch (err) {
    if (isWardenError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** Polls `cond` every 5 ms, failing after `timeoutMs` (no fixed sleeps). */
export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** What {@link rawRequest} saw. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly body: Buffer;
  /** RST_STREAM code when the stream was reset, else 0. */
  readonly rstCode: number;
}

/** One request with a bare `node:http2` client: the wire as another implementation sees it. */
export function rawRequest(
  address: string,
  path: string,
  headers: OutgoingHttpHeaders = {},
  body?: string | Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = connect(address);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, ...headers });
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    stream.on('response', (h) => {
      status = h[':status'] ?? 0;
      responseHeaders = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('error', () => {});
    stream.on('close', () => {
      const rstCode = stream.rstCode ?? 0;
      session.close();
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(parts), rstCode });
    });
    stream.end(body);
  });
}

/** The JSON of a raw response body. */
export function json(res: RawResponse): unknown {
  return JSON.parse(res.body.toString('utf8'));
}
