import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { collect, type ResponseStream } from '../../actors/response-stream.js';
import { encodeBody } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, RequestPlaneClient } from '../../core/request-plane.js';
import { parseOptions } from '../../core/validate.js';
import {
  type CallSender,
  ClientConnection,
  type ConnectionOwner,
  checkSize,
  TcpResponseStream,
} from './client-connection.js';
import { encodeRequestHead, RouteBytes, ZERO_COPY_BYTES } from './codec.js';
import { type TcpClientConfig, type TcpClientOptions, TcpClientOptionsSchema } from './options.js';

/** Where to dial, parsed from `tcp://host:port` or `tls://host:port`. */
interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

function parseAddress(address: string): Endpoint {
  const match = /^(tcp|tls):\/\/(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535) {
    throw new WardenError(
      'WARDEN_INVALID_OPTIONS',
      `Invalid TCP address ${JSON.stringify(address)}: expected tcp://host:port or tls://host:port (what server.address() returns)`,
    );
  }
  const host = (match[2] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port, tls: match[1] === 'tls' };
}

/**
 * A request-plane client over TCP. One connection per address, shared by every call to it (many
 * concurrent streams), dialled on first use and again on the next call after it failed. Create it
 * with {@link createTcpClient}.
 */
export class TcpClient implements RequestPlaneClient, ConnectionOwner, CallSender {
  private readonly config: TcpClientConfig;
  private readonly log: Logger;
  private readonly connections = new Map<string, ClientConnection>();
  private readonly closing = new Set<ClientConnection>();
  private closed = false;
  /** Request ids are this client's random prefix and a counter: unique, and cheaper than a UUID per call. */
  private readonly idPrefix = `${randomBytes(6).toString('hex')}-`;
  private idCounter = 0;
  /** The last target's encoded path, copied into the next REQUEST to the same target. */
  private readonly route = new RouteBytes();

  constructor(options: TcpClientOptions = {}) {
    this.config = parseOptions(TcpClientOptionsSchema, options, 'TCP client options');
    this.log = (this.config.logger ?? pino({ level: 'silent' })).child({ transport: 'tcp', side: 'client' });
  }

  /**
   * Calls an endpoint and streams its response. The request is sent when iteration starts; errors
   * (the server's, `WARDEN_CONNECTION_FAILED`, `WARDEN_CONNECTION_CLOSED`, `WARDEN_MESSAGE_TOO_LARGE`
   * for a body over the limit, `WARDEN_CLIENT_CLOSED` after `close()`) arrive as `WardenError`s
   * from the iteration. A `Uint8Array` body of 4 KiB or more is sent without a copy: leave it
   * unchanged until the request has been written (at the end of the tick iteration started in).
   */
  call(target: CallTarget, body: unknown, opts: CallOptions = {}): ResponseStream {
    return new TcpResponseStream(this, target, body, opts);
  }

  /** Calls an endpoint and waits for its whole response (one chunk, or an array of several). */
  request(target: CallTarget, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    return collect(this.call(target, body, opts));
  }

  /** Ends every call with `WARDEN_CLIENT_CLOSED` and closes every connection; later calls fail alike. */
  async close(): Promise<void> {
    this.closed = true;
    const conns = [...this.connections.values(), ...this.closing];
    this.connections.clear();
    for (const conn of conns) {
      conn.shutdown({ code: 'WARDEN_CLIENT_CLOSED', message: 'The TCP client was closed' });
    }
    await Promise.all(conns.map((c) => c.socketClosed));
  }

  /** Connections open now (one per address). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** @internal */
  connectionClosed(conn: ClientConnection): void {
    if (this.connections.get(conn.address) === conn) this.connections.delete(conn.address);
    this.closing.add(conn);
    void conn.socketClosed.then(() => this.closing.delete(conn));
  }

  /** @internal Sends the REQUEST of `stream` (called when its iteration starts). */
  send(target: CallTarget, body: unknown, opts: CallOptions, stream: TcpResponseStream): void {
    if (this.closed)
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'The TCP client was closed; create a new one');
    const encoded = encodeBody(body);
    // A large body is written after the frame's head, uncopied.
    const detached = encoded.bytes.length >= ZERO_COPY_BYTES;
    const frame = encodeRequestHead(
      0,
      {
        deadline: stream.deadline ?? 0,
        window: this.config.streamWindowBytes,
        namespace: target.namespace,
        component: target.component,
        endpoint: target.endpoint,
        instanceId: target.instanceId ?? '',
        requestId: this.idPrefix + (++this.idCounter).toString(36),
        headers: opts.headers,
      },
      encoded.kind,
      encoded.bytes,
      !detached,
      this.route,
    );
    // Checked before dialling: an oversized body never leaves this process.
    checkSize(frame, this.config.maxMessageBytes);
    this.connection(target.address).start(frame, detached ? encoded.bytes : undefined, stream);
  }

  private connection(address: string): ClientConnection {
    const existing = this.connections.get(address);
    if (existing !== undefined && !existing.closed) return existing;
    const { host, port, tls } = parseAddress(address);
    let socket: Socket;
    if (tls) {
      const t = this.config.tls ?? {};
      socket = tlsConnect({
        host,
        port,
        servername: t.servername ?? (host.includes(':') || /^[\d.]+$/.test(host) ? '' : host),
        ...(t.ca === undefined ? {} : { ca: t.ca }),
        ...(t.cert === undefined ? {} : { cert: t.cert }),
        ...(t.key === undefined ? {} : { key: t.key }),
        rejectUnauthorized: t.rejectUnauthorized ?? true,
      });
    } else {
      socket = netConnect({ host, port });
    }
    const conn = new ClientConnection(socket, tls, this, address, this.config, this.log);
    this.connections.set(address, conn);
    return conn;
  }
}

/**
 * Creates a TCP request-plane client.
 *
 * @example
 * ```ts
 * const client = createTcpClient({ token: process.env.WARDEN_TOKEN });
 * const target = { address: server.address(), namespace: 'demo', component: 'math', endpoint: 'add' };
 * const sum = await client.request(target, { a: 1, b: 2 }, { timeoutMs: 1000 });
 * for await (const row of client.call(target, { query: 'all' })) console.log(row);
 * await client.close();
 * ```
 */
export function createTcpClient(options: TcpClientOptions = {}): TcpClient {
  return new TcpClient(options);
}
