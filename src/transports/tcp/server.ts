import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { TransportServer, type TransportServerOptions } from '../../actors/transport-server.js';
import { parseOptions } from '../../core/validate.js';
import { type TcpServerConfig, type TcpServerOptions, TcpServerOptionsSchema } from './options.js';
import { type ConnectionOwner, digest, ServerConnection, STOPPING } from './server-connection.js';

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The request plane over TCP: length-prefixed binary frames with stream ids, many concurrent
 * calls per connection, per-call flow control (see `docs/protocol/tcp.md`). Create it with
 * {@link createTcpServer}.
 *
 * A handler's `Uint8Array` chunk of 4 KiB or more is written without a copy, as `socket.write`
 * does: do not change its bytes after yielding (or returning) it.
 */
export class TcpServer extends TransportServer implements ConnectionOwner {
  readonly transportName = 'tcp' as const;
  private readonly config: TcpServerConfig;
  private readonly tokenDigest: Buffer | undefined;
  private listener: Server | undefined;
  private readonly connections = new Set<ServerConnection>();
  /** Raw sockets under TLS; those still open once every connection closed are stuck handshakes. */
  private readonly handshaking = new Set<Socket>();

  constructor(options: TcpServerOptions = {}) {
    const config = parseOptions(TcpServerOptionsSchema, options, 'TCP server options');
    const base: { -readonly [K in keyof TransportServerOptions]: TransportServerOptions[K] } = {};
    if (config.logger) base.logger = config.logger;
    if (config.observer) base.observer = config.observer;
    if (config.drainMs !== undefined) base.drainMs = config.drainMs;
    if (config.discovery) base.discovery = config.discovery;
    if (config.meta) base.meta = config.meta;
    if (config.health) base.health = config.health;
    if (config.healthName !== undefined) base.healthName = config.healthName;
    super(base, { transport: 'tcp' });
    this.config = config;
    this.tokenDigest = config.token === undefined ? undefined : digest(config.token);
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** @internal A child logger for one connection (made once per connection, on first use). */
  connectionLog(bindings: Record<string, string>): Logger {
    return this.log.child(bindings);
  }

  /** @internal */
  connectionClosed(conn: ServerConnection): void {
    this.connections.delete(conn);
  }

  protected override listen(): Promise<string> {
    const { host, port, tls } = this.config;
    const accept = (socket: Socket): void => {
      if (this.state !== 'listening' && this.state !== 'draining') {
        socket.destroy();
        return;
      }
      this.connections.add(new ServerConnection(socket, this, this.config, this.tokenDigest));
    };
    const server: Server = tls
      ? createTlsServer(
          {
            key: tls.key,
            cert: tls.cert,
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            requestCert: tls.requestCert ?? false,
            rejectUnauthorized: tls.requestCert ?? false,
            handshakeTimeout: this.config.handshakeTimeoutMs,
          },
          accept,
        )
      : // Half-open, so that a peer that ends its side mid-frame still hears why it is being closed.
        createServer({ allowHalfOpen: true, noDelay: true }, accept);
    if (tls) {
      // A TLS socket becomes a connection only after its handshake; until then only the raw socket
      // exists, and stop() must not wait for a handshake that never ends.
      server.on('connection', (raw: Socket) => {
        this.handshaking.add(raw);
        raw.once('close', () => this.handshaking.delete(raw));
      });
      server.on('tlsClientError', (err: Error) =>
        this.log.debug({ err: err.message }, 'TLS handshake failed'),
      );
    }
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (err: NodeJS.ErrnoException) => {
          this.log.error({ err: err.message }, 'TCP listener failed');
          this.fail(`The TCP listener failed: ${err.message}`, err.code);
        });
        this.listener = server;
        const address = server.address() as AddressInfo;
        resolve(`${tls ? 'tls' : 'tcp'}://${formatHost(address.address)}:${address.port}`);
      });
    });
  }

  protected override async close(): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    this.listener = undefined;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    const connections = [...this.connections];
    for (const conn of connections) conn.close(STOPPING);
    await Promise.all(connections.map((c) => c.socketClosed));
    for (const socket of this.handshaking) socket.destroy();
    await closed;
  }
}

/**
 * Creates a TCP transport server. Options are validated (`WARDEN_INVALID_OPTIONS` names each bad
 * field); it binds `127.0.0.1` on a free port unless told otherwise.
 *
 * @example
 * ```ts
 * const server = createTcpServer({ token: process.env.WARDEN_TOKEN });
 * await server.start();
 * await server.registerEndpoint({
 *   namespace: 'demo', component: 'math', endpoint: 'add', instanceId: newInstanceId(), health,
 *   handler: async ({ a, b }: { a: number; b: number }) => a + b,
 * });
 * console.log(server.address()); // tcp://127.0.0.1:40123
 * ```
 */
export function createTcpServer(options: TcpServerOptions = {}): TcpServer {
  return new TcpServer(options);
}
