/**
 * The NATS connection of a warden NATS server as a supervised session: connect opens the connection
 * with nats.js's own reconnect turned off, init (re)subscribes every endpoint, run ends when the
 * connection closes. The session machine then reconnects under the server's retry policy, so a NATS
 * outage shows in the same inspector, with the same failure reports, as every other session.
 */
import {
  AuthorizationError,
  type ConnectionOptions,
  connect,
  InvalidArgumentError,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from '@nats-io/transport-node';
import type { Connector, RunOutcome, Session, SessionContext } from '../../core/connector.js';
import { messageOf } from '../../core/errors.js';
import type { FailureKind } from '../../core/failure.js';

/** What the server does when a connection comes and goes. */
export interface NatsSessionHooks {
  /** Subscribes every endpoint and the service subjects on a new connection; its success means ready. */
  attach(conn: NatsConnection, ctx: SessionContext): Promise<void>;
  /** The connection is being left (closed, lost or replaced): forget it. Called at most once per connection. */
  detach(conn: NatsConnection, reason: string): void;
}

/** Options of {@link createNatsConnector}. */
export interface NatsConnectorOptions {
  readonly servers: readonly string[];
  /** nats.js connection options passed through unchanged (auth, TLS, name …); `servers` and `reconnect` are ours. */
  readonly connectOptions?: Partial<ConnectionOptions>;
  readonly hooks: NatsSessionHooks;
  /** How long `close()` lets the connection drain before closing it at once (default 2000). */
  readonly drainTimeoutMs?: number;
}

class NatsSession implements Session<NatsConnection> {
  private detached = false;

  constructor(
    readonly handle: NatsConnection,
    private readonly hooks: NatsSessionHooks,
    private readonly drainTimeoutMs: number,
  ) {}

  init(ctx: SessionContext): Promise<void> {
    return this.hooks.attach(this.handle, ctx);
  }

  async run(ctx: SessionContext): Promise<RunOutcome> {
    const err = await this.handle.closed();
    if (err) ctx.log.warn({ err: messageOf(err) }, 'the NATS connection closed with an error');
    this.detach('the NATS connection closed');
    return { type: 'disconnected' };
  }

  async close(): Promise<void> {
    this.detach('the NATS session is closing');
    const conn = this.handle;
    if (conn.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.drainTimeoutMs);
    });
    // drain() flushes responses already published, then closes; a dead socket cannot hold us up.
    await Promise.race([conn.drain().catch(() => {}), timeout]);
    clearTimeout(timer);
    if (!conn.isClosed()) await conn.close().catch(() => {});
  }

  private detach(reason: string): void {
    if (this.detached) return;
    this.detached = true;
    this.hooks.detach(this.handle, reason);
  }
}

/** Auth failures and bad options do not heal by retrying; everything else (refused, reset, timeout) does. */
export function classifyNatsError(_phase: string, err: unknown): FailureKind {
  if (
    err instanceof AuthorizationError ||
    err instanceof UserAuthenticationExpiredError ||
    err instanceof InvalidArgumentError
  )
    return 'fatal';
  return 'retryable';
}

/**
 * A connector for the NATS connection of a warden server. `connect` opens a connection with
 * `reconnect: false` (the session machine owns reconnecting); the session's handle is the connection.
 */
export function createNatsConnector(options: NatsConnectorOptions): Connector<NatsConnection> {
  const drainTimeoutMs = options.drainTimeoutMs ?? 2000;
  const servers = [...options.servers];
  return {
    async connect(_ctx: SessionContext): Promise<Session<NatsConnection>> {
      const conn = await connect({
        ...options.connectOptions,
        servers,
        reconnect: false,
        maxReconnectAttempts: 0,
      });
      return new NatsSession(conn, options.hooks, drainTimeoutMs);
    },
    classifyError: classifyNatsError,
    errorSummary: (err) => `NATS (${servers.join(', ')}): ${messageOf(err)}`,
    errorCode: (err) => {
      const e = err as { code?: unknown; name?: unknown } | null;
      if (typeof e?.code === 'string') return e.code;
      return typeof e?.name === 'string' ? e.name : undefined;
    },
  };
}
