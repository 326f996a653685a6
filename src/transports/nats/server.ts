/**
 * The request plane over NATS: a transport server whose NATS connection is a supervised session.
 * Each endpoint is two subscriptions (`{prefix}.{ns}.{component}.{endpoint}` in a queue group, and
 * `.{instanceId}` for direct calls); responses go to the caller's reply subject.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { toWireError } from '../../actors/endpoint-registry.js';
import { createSupervisor, type Supervisor } from '../../actors/supervisor.js';
import { TransportServer, type TransportServerOptions } from '../../actors/transport-server.js';
import type { SessionContext } from '../../core/connector.js';
import { messageOf } from '../../core/errors.js';
import type { SystemHealth } from '../../core/health.js';
import {
  type EndpointRegistration,
  endpointPath,
  newInstanceId,
  type WireError,
} from '../../core/request-plane.js';
import { cancelSubject, controlPrefix, DEFAULT_PREFIX, QUEUE_GROUP, requestSubject } from './codec.js';
import {
  broadcastReply,
  type DecodedRequest,
  decodeRequest,
  isCompact,
  readControl,
  reject,
} from './inbound.js';
import { type MicroIdentity, type MicroVerb, microResponse, microSubjects } from './micro.js';
import { NATS_SESSION_ID, type NatsServerOptions, natsAddress, parseNatsServerOptions } from './options.js';
import { NatsResponder, type ResponderHost } from './responder.js';
import { FlushQueue, ResponderList } from './responder-queues.js';
import { createNatsConnector } from './session.js';

// Re-exported for modules that import them from the server (they live in ./options.js).
export { NATS_SESSION_ID, type NatsServerOptions, natsAddress } from './options.js';

/**
 * A warden transport server on NATS. Create it with {@link createNatsServer}.
 * `supervisor` holds its connection as the child {@link NATS_SESSION_ID}: inspect it, await its
 * states, show it on the dashboard.
 */
export class NatsServer extends TransportServer implements ResponderHost {
  /** Always `nats`. */
  readonly transportName = 'nats' as const;
  /** The supervisor of the NATS connection (one `permanent` child, {@link NATS_SESSION_ID}). */
  readonly supervisor: Supervisor;
  /** This server's id (16 lowercase hex digits). */
  readonly serverId: string;
  /** The subject prefix. */
  readonly prefix: string;
  /** Largest response chunk in bytes (larger ones fail with `WARDEN_MESSAGE_TOO_LARGE`). */
  readonly maxMessageBytes: number;
  /** Response messages a caller may leave unacked before the handler waits. */
  readonly streamWindow: number;
  private readonly maxInFlight: number;
  private readonly servers: string[];
  private readonly identity: MicroIdentity;
  private readonly controlBase: string;
  private readonly started = new Date().toISOString();
  /** The connection while a session has it (from init until it is left). */
  private conn: NatsConnection | undefined;
  /** The subscriptions of each endpoint on the current connection, by path. */
  private readonly subs = new Map<string, EndpointSubscriptions>();
  private readonly removing = new Set<string>();
  /** Every request in flight. */
  private readonly requests = new ResponderList();
  /** The requests whose control subject went out (streams), by key: control messages name them. */
  private readonly controlled = new Map<number, NatsResponder>();
  private nextKey = 0;
  private readonly flushes = new FlushQueue();

  /** @internal Use {@link createNatsServer}. */
  constructor(options: NatsServerOptions) {
    parseNatsServerOptions(options);
    const serverId = options.serverId ?? newInstanceId();
    const base: { -readonly [K in keyof TransportServerOptions]: TransportServerOptions[K] } = {};
    if (options.logger) base.logger = options.logger;
    if (options.observer) base.observer = options.observer;
    if (options.drainMs !== undefined) base.drainMs = options.drainMs;
    if (options.discovery) base.discovery = options.discovery;
    if (options.meta) base.meta = options.meta;
    if (options.health) base.health = options.health;
    if (options.healthName !== undefined) base.healthName = options.healthName;
    super(base, { transport: 'nats', server: serverId });
    this.serverId = serverId;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    const servers = options.servers ?? 'nats://127.0.0.1:4222';
    this.servers = typeof servers === 'string' ? [servers] : [...servers];
    this.maxInFlight = options.maxInFlight ?? 4096;
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.streamWindow = options.streamWindow ?? 256;
    this.controlBase = controlPrefix(this.prefix, serverId);
    this.identity = {
      name: options.service?.name ?? this.prefix.replaceAll('.', '-'),
      id: serverId,
      version: options.service?.version ?? '0.1.0',
      description: options.service?.description ?? 'warden request plane',
      metadata: options.service?.metadata ?? {},
    };
    const connector = createNatsConnector({
      servers: this.servers,
      ...(options.connectOptions ? { connectOptions: options.connectOptions } : {}),
      hooks: { attach: (conn, ctx) => this.attach(conn, ctx), detach: (conn, why) => this.detach(conn, why) },
    });
    this.supervisor = createSupervisor({
      id: `nats-server-${serverId}`,
      logger: this.log,
      ...(options.inspect ? { inspect: options.inspect } : {}),
      children: [
        {
          id: NATS_SESSION_ID,
          connector,
          restart: 'permanent',
          retry: { maxRetries: null, maxIntervalMs: 5000, ...options.retry },
        },
      ],
    });
    this.supervisor.on('transition', ({ to }) => this.reportSession(to));
    this.supervisor.on('failed', (e) => {
      if (e.supervisor) this.fail(`the NATS connection cannot be kept: ${e.report.summary}`, e.report.code);
    });
  }

  // ---- TransportServer ------------------------------------------------------------------

  protected async listen(): Promise<string> {
    const address = natsAddress(this.servers[0] as string);
    this.supervisor.start();
    return address;
  }

  protected async close(): Promise<void> {
    await this.supervisor.stop({ timeoutMs: 10_000 }).catch((err) => {
      this.log.warn({ err: messageOf(err) }, 'the NATS supervisor did not stop cleanly');
    });
    this.subs.clear();
    this.removing.clear();
  }

  protected override async endpointAdded(reg: EndpointRegistration): Promise<void> {
    const path = endpointPath(reg.namespace, reg.component, reg.endpoint);
    this.removing.delete(path);
    const conn = this.conn;
    this.reportSessionTo(reg.health);
    if (!conn || conn.isClosed()) return; // the next connection's init subscribes it
    this.subscribeEndpoint(conn, reg);
    // Once registerEndpoint resolves, NATS knows the subscription: a call made next is served.
    await flushWithin(conn, FLUSH_TIMEOUT_MS).catch(() => false);
  }

  /**
   * Stops new work reaching the endpoint. Its subscriptions are drained, not just unsubscribed:
   * NATS may have routed requests to this connection before it processes the UNSUB, and those are
   * still delivered (until the drain's flush returns) and answered `WARDEN_ENDPOINT_DRAINING` at
   * once. `unsubscribe()` would drop them unanswered and leave their callers waiting for the deadline.
   */
  protected override async endpointRemoving(path: string): Promise<void> {
    this.removing.add(path);
    this.forgetSessionIn(path);
    const entry = this.subs.get(path);
    this.subs.delete(path);
    if (!entry) return;
    entry.closing = true;
    const conn = this.conn;
    if (!conn || conn.isClosed()) return;
    // Bounded: a dead socket must not hold up unregistering; until it closes, late arrivals are refused.
    await within(Promise.allSettled(entry.subs.map((sub) => drainSubscription(sub))), FLUSH_TIMEOUT_MS);
  }

  protected override transportHealthy(): boolean {
    const conn = this.conn;
    return conn !== undefined && !conn.isClosed() && this.status() === 'ready';
  }

  // ---- ResponderHost --------------------------------------------------------------------

  /** @internal */
  requestDone(responder: NatsResponder): void {
    this.requests.delete(responder);
    if (responder.exposed) this.controlled.delete(responder.key);
  }

  /** @internal */
  exposeControl(responder: NatsResponder): void {
    this.controlled.set(responder.key, responder);
  }

  /** @internal */
  scheduleFlush(responder: NatsResponder): void {
    this.flushes.add(responder);
  }

  /** Requests in flight on this server. */
  get inflight(): number {
    return this.requests.size;
  }

  // ---- the session ----------------------------------------------------------------------

  private status(): string {
    return this.supervisor.status(NATS_SESSION_ID)?.state ?? 'stopped';
  }

  private async attach(conn: NatsConnection, ctx: SessionContext): Promise<void> {
    this.conn = conn;
    this.subs.clear();
    const system: Subscription[] = [];
    for (const { verb, subject } of microSubjects(this.identity)) {
      system.push(conn.subscribe(subject, { callback: (err, msg) => this.onMicro(err, msg, verb) }));
    }
    system.push(
      conn.subscribe(`${this.controlBase}.*`, { callback: (err, msg) => this.onControl(err, msg) }),
      conn.subscribe(cancelSubject(this.prefix), {
        callback: (err, msg) => this.onBroadcastCancel(err, msg),
      }),
    );
    for (const reg of this.registry.registrations()) this.subscribeEndpoint(conn, reg);
    if (!(await flushWithin(conn, INIT_FLUSH_TIMEOUT_MS))) {
      throw new Error(`NATS did not confirm the subscriptions within ${INIT_FLUSH_TIMEOUT_MS} ms`);
    }
    ctx.log.info({ endpoints: this.subs.size, server: conn.getServer() }, 'NATS endpoints subscribed');
  }

  /**
   * The connection is being left. In-flight requests are aborted: their responses could not all be
   * delivered. When the connection is still open (a reconnect was requested, or init failed), each
   * caller is told so with a `WARDEN_CONNECTION_CLOSED` error; then the session drains the
   * connection, and requests still arriving on it are refused the same way (see `onRequest`).
   * When it is closed already, nothing can be sent: callers learn it from their own connection or
   * their deadline.
   */
  private detach(conn: NatsConnection, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    for (const entry of this.subs.values()) entry.closing = true;
    this.subs.clear();
    const stranded = this.requests.toArray();
    if (stranded.length === 0) return;
    const open = !conn.isClosed();
    this.log.warn({ requests: stranded.length, reason, answered: open }, 'aborting in-flight requests');
    for (const r of stranded) {
      if (open) r.inflight?.fail(closing(this.serverId, `aborted: ${reason}`));
      else r.connectionLost(reason);
    }
  }

  private subscribeEndpoint(conn: NatsConnection, reg: EndpointRegistration): void {
    const path = endpointPath(reg.namespace, reg.component, reg.endpoint);
    if (this.subs.has(path) || this.removing.has(path) || !this.registry.has(path)) return;
    const any = requestSubject(this.prefix, reg.namespace, reg.component, reg.endpoint);
    const entry: EndpointSubscriptions = { subs: [], closing: false };
    entry.subs.push(
      conn.subscribe(any, {
        queue: QUEUE_GROUP,
        callback: (err, msg) => this.onRequest(err, msg, conn, reg, undefined, entry),
      }),
      conn.subscribe(`${any}.${reg.instanceId}`, {
        callback: (err, msg) => this.onRequest(err, msg, conn, reg, reg.instanceId, entry),
      }),
    );
    this.subs.set(path, entry);
  }

  // ---- inbound messages -----------------------------------------------------------------

  private onRequest(
    err: Error | null,
    msg: Msg,
    conn: NatsConnection,
    reg: EndpointRegistration,
    instanceId: string | undefined,
    entry: EndpointSubscriptions,
  ): void {
    if (err) {
      this.log.error({ err: messageOf(err), endpoint: reg.endpoint }, 'NATS subscription error');
      return;
    }
    const reply = msg.reply;
    if (!reply) return; // a publish without a reply subject expects no answer
    if (entry.closing) {
      // Routed here before NATS processed the UNSUB: answer now, so the caller can go elsewhere.
      const path = endpointPath(reg.namespace, reg.component, reg.endpoint);
      reject(
        conn,
        reply,
        conn === this.conn ? draining(path) : closing(this.serverId, 'not served'),
        isCompact(msg),
      );
      return;
    }
    if (this.requests.size >= this.maxInFlight) {
      reject(
        conn,
        reply,
        {
          code: 'WARDEN_OVERLOADED',
          message: `The NATS server ${this.serverId} has ${this.maxInFlight} requests in flight; try again later or elsewhere`,
        },
        isCompact(msg),
      );
      return;
    }
    const compact = isCompact(msg);
    let decoded: DecodedRequest;
    try {
      decoded = decodeRequest(msg, compact, reg, instanceId, reply);
    } catch (decodeErr) {
      reject(conn, reply, toWireError(decodeErr), compact);
      return;
    }
    const key = this.nextKey++;
    const responder = new NatsResponder(this, key, reply, conn, this.controlBase, compact);
    this.requests.add(responder);
    responder.inflight = this.registry.dispatch(decoded.req, responder, decoded.bodyBytes);
  }

  private onControl(err: Error | null, msg: Msg): void {
    if (err) return;
    const responder = this.controlled.get(Number(msg.subject.slice(this.controlBase.length + 1)));
    if (!responder) return;
    const control = readControl(msg);
    if (control?.type === 'ack') responder.ack(control.units);
    else if (control?.type === 'gone') responder.callerGone();
  }

  private onBroadcastCancel(err: Error | null, msg: Msg): void {
    if (err) return;
    const reply = broadcastReply(msg);
    if (reply) this.requests.find((r) => r.reply === reply)?.callerGone();
  }

  private onMicro(err: Error | null, msg: Msg, verb: MicroVerb): void {
    if (err || !msg.reply) return;
    const body = microResponse(verb, this.identity, this.registry.list(), this.prefix, this.started);
    try {
      msg.respond(JSON.stringify(body));
    } catch (publishErr) {
      this.log.debug({ err: messageOf(publishErr) }, 'cannot answer a $SRV request');
    }
  }

  // ---- health ---------------------------------------------------------------------------

  private sessionName(): string {
    return `nats:${this.serverId}`;
  }

  private reportSession(state: string): void {
    const healths = new Set<SystemHealth>();
    for (const reg of this.registry.registrations()) healths.add(reg.health);
    const failure = this.supervisor.status(NATS_SESSION_ID)?.lastFailure;
    for (const h of healths) h.setSession(this.sessionName(), state, state === 'ready' ? undefined : failure);
  }

  /** The endpoint at `path` goes: its health stops showing this session unless another endpoint shares it. */
  private forgetSessionIn(path: string): void {
    const regs = this.registry.registrations();
    const leaving = regs.find((r) => endpointPath(r.namespace, r.component, r.endpoint) === path);
    if (!leaving) return;
    const shared = regs.some(
      (r) =>
        r !== leaving &&
        r.health === leaving.health &&
        !this.removing.has(endpointPath(r.namespace, r.component, r.endpoint)),
    );
    if (!shared) leaving.health.removeSession(this.sessionName());
  }

  private reportSessionTo(health: SystemHealth): void {
    const status = this.supervisor.status(NATS_SESSION_ID);
    if (!status) return;
    health.setSession(
      this.sessionName(),
      status.state,
      status.state === 'ready' ? undefined : status.lastFailure,
    );
  }
}

/** The two subscriptions of one endpoint on one connection. */
interface EndpointSubscriptions {
  readonly subs: Subscription[];
  /**
   * Set when the endpoint is being removed or its connection left: requests still delivered on
   * these subscriptions (NATS routed them before it processed the UNSUB) are refused at once.
   */
  closing: boolean;
}

function draining(path: string): WireError {
  return {
    code: 'WARDEN_ENDPOINT_DRAINING',
    message: `Endpoint '${path}' is draining and takes no new requests`,
  };
}

function closing(serverId: string, what: string): WireError {
  return {
    code: 'WARDEN_CONNECTION_CLOSED',
    message: `The NATS connection of server ${serverId} is closing; the request was ${what}; try again`,
  };
}

/**
 * Unsubscribes without losing what is on its way: nats.js sends the UNSUB and keeps delivering
 * until NATS answers the flush that follows it. Rejects when the connection is closed already.
 */
async function drainSubscription(sub: Subscription): Promise<void> {
  if (sub.isClosed()) return;
  await sub.drain();
}

/** How long registering or unregistering waits for NATS to confirm (un)subscribing. */
const FLUSH_TIMEOUT_MS = 2000;
/** How long a new connection may take to confirm its subscriptions before the attempt fails (and is retried). */
const INIT_FLUSH_TIMEOUT_MS = 5000;

/**
 * Waits for NATS to have processed what was sent, at most `ms` (a dead socket must not hang a
 * caller). Resolves true once confirmed, false on timeout; rejects when the flush fails.
 */
function flushWithin(conn: NatsConnection, ms: number): Promise<boolean> {
  return within(conn.flush(), ms);
}

/** Resolves true once `work` has settled fulfilled, false after `ms`; rejects as `work` does. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates a request-plane server on NATS. `start()` starts its connection session and resolves at
 * once with the address (the first connection need not succeed: endpoints registered meanwhile are
 * subscribed when it does); `isHealthy()` is true while the connection is ready.
 *
 * @example
 * ```ts
 * const server = createNatsServer({ servers: 'nats://127.0.0.1:4222', retry: { initialIntervalMs: 200 } });
 * await server.start();
 * await server.registerEndpoint({
 *   namespace: 'shop', component: 'cart', endpoint: 'add', instanceId: newInstanceId(),
 *   health, handler: async (body) => ({ ok: true, body }),
 * });
 * server.supervisor.status(NATS_SESSION_ID); // { state: 'ready', attempt: 1, … }
 * ```
 */
export function createNatsServer(options: NatsServerOptions = {}): NatsServer {
  return new NatsServer(options);
}
