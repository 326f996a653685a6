import { timingSafeEqual } from 'node:crypto';
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type Http2Server as NodeHttp2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { RequestObserver } from '../../actors/endpoint-registry.js';
import { TransportServer, type TransportServerOptions } from '../../actors/transport-server.js';
import { BodyKind } from '../../core/body.js';
import { messageOf } from '../../core/errors.js';
import { SystemHealthOptionSchema } from '../../core/health.js';
import { endpointPath, newInstanceId } from '../../core/request-plane.js';
import { parseOptions } from '../../core/validate.js';
import { DiscoveryOptionSchema, InstanceMetaSchema } from '../../discovery/discovery.js';
import { ContentTypes, Http2Headers, parseEndpointUrlPath } from './codec.js';
import { Exchange, type ExchangeHost } from './exchange.js';
import { Http2Request, type RequestIds } from './request.js';

/** TLS material of an HTTP/2 server. */
export interface Http2ServerTlsOptions {
  /** The server's private key (PEM). */
  readonly key: string | Uint8Array;
  /** The server's certificate chain (PEM). */
  readonly cert: string | Uint8Array;
  /** CAs that client certificates must chain to (PEM); used with `requireClientCert`. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  /** Refuse clients without a certificate signed by `ca` (mutual TLS). Default false. */
  readonly requireClientCert?: boolean;
}

/** Options of {@link createHttp2Server}. */
export interface Http2ServerOptions extends TransportServerOptions {
  /** Interface to bind; default `127.0.0.1` (never all interfaces unless asked). */
  readonly host?: string;
  /** Port; default 0 (an ephemeral port, see `address()`). */
  readonly port?: number;
  /** Largest request body and response chunk, in bytes; default 16 MiB. Larger bodies get 413. */
  readonly maxMessageBytes?: number;
  /** Requests in flight per HTTP/2 session (connection); more get 503 `WARDEN_OVERLOADED`. Default 1024. */
  readonly maxInFlight?: number;
  /** Shared secret: requests must carry `authorization: Bearer <token>`, else 401 before any handler runs. */
  readonly token?: string;
  /** Serve TLS (`https://`) with this key and certificate instead of cleartext h2c. */
  readonly tls?: Http2ServerTlsOptions;
}

const bytes = z.union([z.string().min(1), z.instanceof(Uint8Array)]);

/** The zod schema of {@link Http2ServerOptions}. */
export const Http2ServerOptionsSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(0),
  maxMessageBytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 31 - 1)
    .default(16 * 1024 * 1024),
  maxInFlight: z.number().int().positive().default(1024),
  token: z.string().min(1).optional(),
  tls: z
    .object({
      key: bytes,
      cert: bytes,
      ca: z.union([bytes, z.array(bytes)]).optional(),
      requireClientCert: z.boolean().optional(),
    })
    .optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null, 'expected a pino logger').optional(),
  observer: z
    .custom<RequestObserver>((v) => typeof v === 'object' && v !== null, 'expected a request observer')
    .optional(),
  drainMs: z.number().int().min(0).optional(),
  discovery: DiscoveryOptionSchema.optional(),
  meta: InstanceMetaSchema.optional(),
  health: SystemHealthOptionSchema.optional(),
  healthName: z.string().min(1).optional(),
});

/** Sessions still open this long after endpoints drained are destroyed by `stop()`. */
const SESSION_CLOSE_GRACE_MS = 1000;
const DEADLINE_PATTERN = /^\d{1,15}$/;
/** Distinct request paths remembered by a server (cleared when full). */
const ROUTE_CACHE_SIZE = 512;

const toBuffer = (v: string | Uint8Array): string | Buffer =>
  typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.length);

interface SessionState {
  inflight: number;
}

type Route = readonly [namespace: string, component: string, endpoint: string, path: string];

function isJsonContentType(type: string | undefined): boolean {
  if (type === undefined || type === ContentTypes.json) return true;
  const semi = type.indexOf(';');
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase() === ContentTypes.json;
}

function isRawContentType(type: string): boolean {
  const semi = type.indexOf(';');
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase() === ContentTypes.raw;
}

/**
 * The request plane over HTTP/2: each request is one HTTP/2 stream,
 * `POST /v1/{namespace}/{component}/{endpoint}`, answered with a streamed body (see
 * `docs/protocol/http2.md`). Cleartext h2c by default, TLS when `tls` is given. Create it with
 * {@link createHttp2Server}.
 */
export class Http2Server extends TransportServer implements ExchangeHost, RequestIds {
  /** Always `'http2'`. */
  readonly transportName = 'http2' as const;
  private readonly options: z.output<typeof Http2ServerOptionsSchema>;
  private readonly expectedAuth: Buffer | undefined;
  private server: NodeHttp2Server | Http2SecureServer | undefined = undefined;
  private readonly sessionStates = new Map<ServerHttp2Session, SessionState>();
  private acceptingFlag = false;
  private readonly requestIdPrefix = newInstanceId();
  private requestCounter = 0;
  /** Request path → namespace, component, endpoint and the registry key. */
  private readonly routes = new Map<string, Route>();
  /** Largest request body and response chunk, in bytes. */
  readonly maxMessageBytes: number;

  /** Use {@link createHttp2Server}; options are validated there. */
  constructor(options: z.output<typeof Http2ServerOptionsSchema>) {
    const base: { -readonly [K in keyof TransportServerOptions]: TransportServerOptions[K] } = {};
    if (options.logger) base.logger = options.logger;
    if (options.observer) base.observer = options.observer;
    if (options.drainMs !== undefined) base.drainMs = options.drainMs;
    if (options.discovery) base.discovery = options.discovery;
    if (options.meta) base.meta = options.meta;
    if (options.health) base.health = options.health;
    if (options.healthName !== undefined) base.healthName = options.healthName;
    super(base, { transport: 'http2' });
    this.options = options;
    this.maxMessageBytes = options.maxMessageBytes;
    this.expectedAuth = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
    this.actor.subscribe((snap) => {
      this.acceptingFlag = snap.value === 'listening';
    });
  }

  /** True while the server takes new requests (listening, not stopping). */
  get accepting(): boolean {
    return this.acceptingFlag;
  }

  /** HTTP/2 sessions (connections) open right now. */
  get sessionCount(): number {
    return this.sessionStates.size;
  }

  protected listen(): Promise<string> {
    const { tls, host, port } = this.options;
    const server = tls
      ? createSecureServer({
          key: toBuffer(tls.key),
          cert: toBuffer(tls.cert),
          ...(tls.ca === undefined
            ? {}
            : { ca: Array.isArray(tls.ca) ? tls.ca.map(toBuffer) : toBuffer(tls.ca) }),
          requestCert: tls.requireClientCert === true,
          rejectUnauthorized: tls.requireClientCert === true,
          allowHTTP1: false,
        })
      : createServer();
    this.server = server;
    server.on('session', this.onSession);
    server.on('stream', this.onStream);
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server = undefined;
        reject(err);
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err: NodeJS.ErrnoException) => this.fail(messageOf(err), err.code));
        const info = server.address() as AddressInfo;
        let address = info.address;
        if (address === '0.0.0.0') address = '127.0.0.1';
        else if (address === '::') address = '::1';
        if (address.includes(':')) address = `[${address}]`;
        resolve(`${tls ? 'https' : 'http'}://${address}:${info.port}`);
      });
    });
  }

  protected async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const sessions = [...this.sessionStates.keys()];
    const closed = sessions.map(
      (session) => new Promise<void>((resolve) => session.once('close', () => resolve())),
    );
    const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.close();
    // Streams that never finish (a peer that stopped reading) must not hold stop() forever.
    const timer = setTimeout(() => {
      for (const session of this.sessionStates.keys()) session.destroy();
    }, SESSION_CLOSE_GRACE_MS);
    await Promise.all([listenerClosed, ...closed]);
    clearTimeout(timer);
  }

  private readonly onSession = (session: ServerHttp2Session): void => {
    this.sessionStates.set(session, { inflight: 0 });
    session.on('error', (err) => this.log.debug({ err: messageOf(err) }, 'http2 session error'));
    session.once('close', () => this.sessionStates.delete(session));
    if (!this.accepting) session.close();
  };

  private readonly onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    const session = stream.session as ServerHttp2Session | undefined;
    const state = session === undefined ? undefined : this.sessionStates.get(session);
    if (state === undefined) {
      stream.close();
      return;
    }
    const ex = new Exchange(this, stream, state);
    if (!this.accepting) {
      ex.reject('WARDEN_SERVER_NOT_RUNNING', 'The server is stopping and takes no new requests');
      return;
    }
    if (this.expectedAuth !== undefined && !this.authorized(headers.authorization)) {
      ex.reject('WARDEN_UNAUTHORIZED', "Missing or wrong token: send 'authorization: Bearer <token>'");
      return;
    }
    const path = headers[':path'];
    const route = this.route(path);
    if (route === undefined) {
      ex.reject(
        'WARDEN_ENDPOINT_NOT_FOUND',
        `No endpoint at '${path}': use POST /v1/{namespace}/{component}/{endpoint}`,
      );
      return;
    }
    if (headers[':method'] !== 'POST') {
      ex.reject('WARDEN_PROTOCOL_ERROR', `Method ${headers[':method']} is not allowed: use POST`, 405);
      return;
    }
    if (state.inflight > this.options.maxInFlight) {
      ex.reject(
        'WARDEN_OVERLOADED',
        `Too many requests in flight on this connection (limit ${this.options.maxInFlight}); retry later`,
      );
      return;
    }
    const contentType = headers['content-type'];
    let kind: number;
    if (isJsonContentType(contentType)) kind = BodyKind.json;
    else if (isRawContentType(contentType as string)) kind = BodyKind.raw;
    else {
      ex.reject(
        'WARDEN_INVALID_REQUEST',
        `Unsupported content-type '${contentType}': use ${ContentTypes.json} or ${ContentTypes.raw}`,
        415,
      );
      return;
    }
    const declared = headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxMessageBytes) {
      ex.reject(
        'WARDEN_MESSAGE_TOO_LARGE',
        `The request body (${declared} bytes) is larger than the limit of ${this.maxMessageBytes} bytes`,
      );
      return;
    }
    let deadline: number | undefined;
    const timeoutMs = headers[Http2Headers.timeoutMs];
    const absolute = headers[Http2Headers.deadline];
    if (timeoutMs !== undefined || absolute !== undefined) {
      if (
        (timeoutMs !== undefined && (typeof timeoutMs !== 'string' || !DEADLINE_PATTERN.test(timeoutMs))) ||
        (absolute !== undefined && (typeof absolute !== 'string' || !DEADLINE_PATTERN.test(absolute)))
      ) {
        ex.reject(
          'WARDEN_INVALID_REQUEST',
          `${Http2Headers.timeoutMs} and ${Http2Headers.deadline} must be non-negative integers (ms)`,
        );
        return;
      }
      deadline = Math.min(
        timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + Number(timeoutMs),
        absolute === undefined ? Number.POSITIVE_INFINITY : Number(absolute),
      );
    }
    const requestId = headers[Http2Headers.requestId];
    const instanceId = headers[Http2Headers.instanceId];
    ex.read(
      new Http2Request(
        route[0],
        route[1],
        route[2],
        route[3],
        typeof instanceId === 'string' ? instanceId : undefined,
        typeof requestId === 'string' && requestId !== '' ? requestId : undefined,
        deadline,
        kind,
        headers,
        this.expectedAuth !== undefined,
        this,
      ),
      headers.accept?.includes(ContentTypes.stream) === true,
    );
  };

  /** Parses a request path, remembering the few paths a server sees over and over. */
  private route(path: string | undefined): Route | undefined {
    if (path === undefined) return undefined;
    let route = this.routes.get(path);
    if (route === undefined) {
      const parts = parseEndpointUrlPath(path);
      if (parts === undefined) return undefined;
      route = [parts[0], parts[1], parts[2], endpointPath(parts[0], parts[1], parts[2])];
      if (this.routes.size >= ROUTE_CACHE_SIZE) this.routes.clear();
      this.routes.set(path, route);
    }
    return route;
  }

  /** A request id for a caller that sent none: unique per server, cheaper than a UUID per request. */
  nextRequestId(): string {
    this.requestCounter++;
    return `${this.requestIdPrefix}-${this.requestCounter.toString(36)}`;
  }

  private authorized(value: string | undefined): boolean {
    const expected = this.expectedAuth as Buffer;
    if (value === undefined) return false;
    const given = Buffer.from(value);
    // Compare in constant time; a length mismatch is compared against itself to keep the timing flat.
    return given.length === expected.length
      ? timingSafeEqual(given, expected)
      : !timingSafeEqual(given, given);
  }
}

/**
 * Creates an HTTP/2 request-plane server. Options are validated (`WARDEN_INVALID_OPTIONS`).
 *
 * @example
 * ```ts
 * const server = createHttp2Server({ port: 0 });
 * await server.start();
 * await server.registerEndpoint({
 *   namespace: 'shop', component: 'cart', endpoint: 'add', instanceId: newInstanceId(),
 *   health: new SystemHealth(), handler: async (body) => ({ ok: true, body }),
 * });
 * // curl --http2-prior-knowledge -H 'content-type: application/json' -d '{"sku":1}' \
 * //   $(server.address())/v1/shop/cart/add
 * ```
 */
export function createHttp2Server(options: Http2ServerOptions = {}): Http2Server {
  return new Http2Server(parseOptions(Http2ServerOptionsSchema, options, 'HTTP/2 server options'));
}
