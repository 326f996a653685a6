import { type Logger, pino } from 'pino';
import { z } from 'zod';
import { ResponseStream } from '../actors/response-stream.js';
import { type ErrorCode, isWardenError, WardenError } from '../core/errors.js';
import {
  type CallOptions,
  INSTANCE_ID_PATTERN,
  NAME_PATTERN,
  type RequestPlaneClient,
  type TransportName,
} from '../core/request-plane.js';
import type { RandomSource } from '../core/retry.js';
import { parseOptions } from '../core/validate.js';
import type { Discovery, InstanceRecord } from '../discovery/discovery.js';
import { ClientPool, type RouterClientOptions } from './clients.js';
import { type InstanceState, PathView } from './path-view.js';

/**
 * How a router picks an instance: in turn, at random, the one named by `instanceId`, or the one
 * with the fewest calls in flight through this router (ties taken in turn).
 */
export type RouteMode = 'round-robin' | 'random' | 'direct' | 'least-inflight';

/** Where a routed call goes: an endpoint, and optionally one instance of it (required in `direct` mode). */
export interface RoutePath {
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  /** Call only this instance (16 lowercase hex digits); no failover to another. */
  readonly instanceId?: string;
}

/** One try of a routed call, reported to `onAttempt` when it ends. */
export interface RouteAttempt {
  /** `namespace/component/endpoint`. */
  readonly path: string;
  readonly instance: InstanceRecord;
  /** 1 for the first try of the call, 2 for the first failover, ... */
  readonly attempt: number;
  /** `ok`; `failover`: failed before its first chunk and the call moves on; `error`: the call ends with it. */
  readonly outcome: 'ok' | 'failover' | 'error';
  readonly code?: ErrorCode;
  /** Epoch ms when the try started (it ended when it is reported). */
  readonly startedAt: number;
}

/** Options of {@link createRouter}. */
export interface RouterOptions {
  /** Where instances are found. The router watches each path it is asked for, from its first call. */
  readonly discovery: Discovery;
  /** How an instance is picked (default `round-robin`). */
  readonly mode?: RouteMode;
  /** Random source in [0, 1) for `random` mode (default `Math.random`); seed it in tests. */
  readonly random?: RandomSource;
  /** How long an instance that failed before its first chunk is avoided, ms (default 2000). */
  readonly cooldownMs?: number;
  /**
   * The clock of cool-downs and of `RouteAttempt.startedAt`, epoch ms (default `Date.now`); a test
   * moves it forward instead of waiting a cool-down out. Call deadlines (`timeoutMs`) always
   * follow real time, as the transports enforce them.
   */
  readonly now?: () => number;
  /** Instances one call may try before it gives up (default 3). */
  readonly maxTries?: number;
  /**
   * Calls in flight through this router at which an instance counts as busy and is skipped; when
   * every instance is busy, calls fail fast with `WARDEN_OVERLOADED` (default: no limit).
   */
  readonly busyThreshold?: number;
  /** How long a call waits for discovery to list a path the first time, ms (default 5000). */
  readonly syncTimeoutMs?: number;
  /** Clients to use per transport (not closed by the router); missing ones are created on demand. */
  readonly clients?: Partial<Record<TransportName, RequestPlaneClient>>;
  /** Options of the clients the router creates (tokens, TLS, timeouts ...). */
  readonly clientOptions?: RouterClientOptions;
  /** Told of every try: for metrics, logs and tests. Keep it cheap: it runs on the call path. */
  readonly onAttempt?: (attempt: RouteAttempt) => void;
  /** A pino logger (default: silent). */
  readonly logger?: Logger;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'expected a function');
const client = z.custom<RequestPlaneClient>(
  (v) => typeof v === 'object' && v !== null && typeof (v as RequestPlaneClient).call === 'function',
  'expected a request-plane client',
);
const OptionsSchema = z
  .object({
    discovery: z.custom<Discovery>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Discovery).watch === 'function',
      'expected a Discovery (MemoryDiscovery, NatsKvDiscovery, ...)',
    ),
    mode: z.enum(['round-robin', 'random', 'direct', 'least-inflight']).default('round-robin'),
    random: fn.optional(),
    now: fn.optional(),
    cooldownMs: z.number().int().min(0).default(2000),
    maxTries: z.number().int().min(1).max(100).default(3),
    busyThreshold: z.number().int().min(1).optional(),
    syncTimeoutMs: z.number().int().min(1).default(5000),
    clients: z
      .object({ tcp: client.optional(), http2: client.optional(), nats: client.optional() })
      .strict()
      .optional(),
    clientOptions: z
      .object({
        tcp: z.record(z.string(), z.unknown()).optional(),
        http2: z.record(z.string(), z.unknown()).optional(),
        nats: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
    onAttempt: fn.optional(),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null, 'expected a pino logger').optional(),
  })
  .strict();

/** Errors after which the call was not served and may go to another instance. */
const FAILOVER = new Set<ErrorCode>([
  'WARDEN_CONNECTION_FAILED',
  'WARDEN_CONNECTION_CLOSED',
  'WARDEN_NO_RESPONDERS',
  'WARDEN_ENDPOINT_DRAINING',
  'WARDEN_ENDPOINT_NOT_FOUND',
  'WARDEN_INSTANCE_NOT_FOUND',
  'WARDEN_SERVER_NOT_RUNNING',
  'WARDEN_OVERLOADED',
]);

/**
 * Calls endpoints by path, wherever their instances are: it watches discovery for each path,
 * picks an instance by its mode and calls it over that instance's transport. An instance that
 * fails before its first chunk (unreachable, connection lost, no responders, draining, unknown
 * there) is avoided for `cooldownMs` and the call moves to another, up to `maxTries` instances;
 * once a chunk has arrived, an error reaches the caller, so the router never runs a request twice
 * after it produced output. The caller's signal and `timeoutMs` cover the whole call, tries
 * included. Create it with {@link createRouter}.
 */
export class Router {
  private readonly discovery: Discovery;
  private readonly mode: RouteMode;
  private readonly random: RandomSource;
  private readonly now: () => number;
  private readonly cooldownMs: number;
  private readonly maxTries: number;
  private readonly busyThreshold: number;
  private readonly syncTimeoutMs: number;
  private readonly onAttempt: ((a: RouteAttempt) => void) | undefined;
  private readonly log: Logger;
  private readonly clients: ClientPool;
  private readonly views = new Map<string, PathView>();
  private closed = false;

  /** @internal Use {@link createRouter}. */
  constructor(options: RouterOptions) {
    const config = parseOptions(OptionsSchema, options, 'router options');
    this.discovery = options.discovery;
    this.mode = config.mode;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.cooldownMs = config.cooldownMs;
    this.maxTries = config.maxTries;
    this.busyThreshold = config.busyThreshold ?? Number.POSITIVE_INFINITY;
    this.syncTimeoutMs = config.syncTimeoutMs;
    this.onAttempt = options.onAttempt;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'router' });
    this.clients = new ClientPool(options.clients ?? {}, options.clientOptions ?? {});
  }

  /**
   * Streams the response of one call routed to an instance of `path`. Failures before the first
   * chunk move the call to another instance; later ones end it.
   */
  call(path: RoutePath, body: unknown, opts: CallOptions = {}): AsyncIterable<unknown> {
    return this.route(path, body, opts);
  }

  /** One result: the single chunk of a unary response (an array if it streamed several, `undefined` for none). */
  async request(path: RoutePath, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
    const view = this.view(path);
    if (!view.synced) await view.waitReady(opts.signal, deadline, this.syncTimeoutMs);
    let tried: Set<InstanceState> | undefined;
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      const inst = this.pick(view, path, tried, last);
      const c = this.clients.get(inst.record);
      const client = 'call' in c ? c : await c;
      const startedAt = this.onAttempt ? this.now() : 0;
      let stream: AsyncIterable<unknown> | undefined;
      const seen = { chunk: false };
      inst.inflight++;
      try {
        stream = client.call(inst.target, body, callOptions(opts, deadline));
        // A transport's own stream is read on its fast path (one promise per call), and asked
        // afterwards whether a chunk had arrived; any other iterable is iterated.
        const result =
          stream instanceof ResponseStream ? await stream.collect() : await collectIterable(stream, seen);
        this.onAttempt?.({ path: view.name(), instance: inst.record, attempt, outcome: 'ok', startedAt });
        return result;
      } catch (err) {
        const got = seen.chunk || (stream instanceof ResponseStream && stream.receivedChunk);
        if (got || !this.failedOver(view, inst, attempt, err, opts, startedAt)) throw err;
        if (!tried) tried = new Set();
        tried.add(inst);
        last = err;
      } finally {
        inst.inflight--;
      }
    }
  }

  /**
   * The instances of `path` as this router sees them now (starting its watch if needed, and
   * waiting for discovery to list them the first time).
   */
  async instances(path: Omit<RoutePath, 'instanceId'>): Promise<InstanceRecord[]> {
    const view = this.view(path);
    if (!view.synced) await view.waitReady(undefined, undefined, this.syncTimeoutMs);
    return view.list.map((s) => s.record);
  }

  /** Stops every watch and closes the clients the router created. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const view of this.views.values()) view.close();
    this.views.clear();

    await this.clients.close();
  }

  private async *route(path: RoutePath, body: unknown, opts: CallOptions): AsyncGenerator<unknown> {
    const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
    const view = this.view(path);
    if (!view.synced) await view.waitReady(opts.signal, deadline, this.syncTimeoutMs);
    let tried: Set<InstanceState> | undefined;
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      const inst = this.pick(view, path, tried, last);
      const c = this.clients.get(inst.record);
      const client = 'call' in c ? c : await c;
      let got = false;
      const startedAt = this.onAttempt ? this.now() : 0;
      inst.inflight++;
      try {
        for await (const chunk of client.call(inst.target, body, callOptions(opts, deadline))) {
          got = true;
          yield chunk;
        }
        this.onAttempt?.({ path: view.name(), instance: inst.record, attempt, outcome: 'ok', startedAt });
        return;
      } catch (err) {
        if (got || !this.failedOver(view, inst, attempt, err, opts, startedAt)) throw err;
        if (!tried) tried = new Set();
        tried.add(inst);
        last = err;
      } finally {
        inst.inflight--;
      }
    }
  }

  /** Decides whether a failed try moves on (marking the instance down), and reports the try. */
  private failedOver(
    view: PathView,
    inst: InstanceState,
    attempt: number,
    err: unknown,
    opts: CallOptions,
    startedAt: number,
  ): boolean {
    const code = isWardenError(err) ? err.code : undefined;
    const moves =
      code !== undefined &&
      FAILOVER.has(code) &&
      attempt < this.maxTries &&
      !opts.signal?.aborted &&
      !this.closed &&
      this.mode !== 'direct';
    if (code !== undefined && FAILOVER.has(code) && code !== 'WARDEN_OVERLOADED') {
      inst.downUntil = this.now() + this.cooldownMs;
      this.log.debug({ path: view.name(), instanceId: inst.record.instanceId, code }, 'instance marked down');
    }
    if (this.onAttempt) {
      const report: RouteAttempt = {
        path: view.name(),
        instance: inst.record,
        attempt,
        outcome: moves ? 'failover' : 'error',
        startedAt,
        ...(code === undefined ? {} : { code }),
      };
      this.onAttempt(report);
    }
    return moves;
  }

  /**
   * Picks the instance for the next try: among those not tried yet by this call and not busy,
   * one that is not cooling down (by the mode), else the one whose cool-down ends first.
   */
  private pick(
    view: PathView,
    path: RoutePath,
    tried: Set<InstanceState> | undefined,
    last: unknown,
  ): InstanceState {
    const list = view.list;
    const only = path.instanceId;
    const now = this.now();
    let healthy = 0;
    let busy = 0;
    let fallback: InstanceState | undefined;
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as InstanceState;
      if ((only !== undefined && s.record.instanceId !== only) || tried?.has(s)) continue;
      if (s.inflight >= this.busyThreshold) busy++;
      else if (s.downUntil > now) {
        if (!fallback || s.downUntil < fallback.downUntil) fallback = s;
      } else healthy++;
    }
    if (healthy === 0) {
      if (fallback) return fallback;
      if (last !== undefined) throw last;
      if (busy > 0) {
        throw new WardenError(
          'WARDEN_OVERLOADED',
          `Every instance of ${view.name()} has ${this.busyThreshold} or more calls in flight; back off and retry, or add instances`,
        );
      }
      throw new WardenError(
        'WARDEN_NO_INSTANCES',
        only === undefined
          ? `No live instance serves ${view.name()}; start one, or check that servers and router share the discovery`
          : `Instance ${only} of ${view.name()} is not live in discovery`,
      );
    }
    // The k-th healthy instance (in id order), chosen by the mode.
    let k: number;
    if (healthy === 1) k = 0;
    else if (this.mode === 'random') k = Math.min(healthy - 1, Math.floor(this.random() * healthy));
    else if (this.mode === 'least-inflight') return this.leastInflight(view, list, only, tried, now, healthy);
    else k = view.cursor++ % healthy;
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as InstanceState;
      if ((only !== undefined && s.record.instanceId !== only) || tried?.has(s)) continue;
      if (s.inflight >= this.busyThreshold || s.downUntil > now) continue;
      if (k-- === 0) return s;
    }
    throw new Error('unreachable: a counted healthy instance was not found');
  }

  private leastInflight(
    view: PathView,
    list: InstanceState[],
    only: string | undefined,
    tried: Set<InstanceState> | undefined,
    now: number,
    healthy: number,
  ): InstanceState {
    // Start the scan at a rotating position so ties are shared in turn.
    const start = view.cursor++ % list.length;
    let best: InstanceState | undefined;
    for (let j = 0; j < list.length; j++) {
      const s = list[(start + j) % list.length] as InstanceState;
      if ((only !== undefined && s.record.instanceId !== only) || tried?.has(s)) continue;
      if (s.inflight >= this.busyThreshold || s.downUntil > now) continue;
      if (!best || s.inflight < best.inflight) best = s;
    }
    if (!best) throw new Error(`unreachable: ${healthy} healthy instances counted, none found`);
    return best;
  }

  /** The view of `path`, created (and its watch started) on first use. */
  private view(path: RoutePath): PathView {
    if (this.closed) throw new WardenError('WARDEN_CLIENT_CLOSED', 'The router was closed; create a new one');
    const key = `${path.namespace}/${path.component}/${path.endpoint}`;
    let view = this.views.get(key);
    if (!view) {
      checkPath(path);
      view = new PathView(
        this.discovery,
        { namespace: path.namespace, component: path.component, endpoint: path.endpoint },
        this.log,
      );
      this.views.set(key, view);
    }
    if (path.instanceId !== undefined && !INSTANCE_ID_PATTERN.test(path.instanceId)) {
      throw new WardenError(
        'WARDEN_INVALID_NAME',
        `Invalid instance id ${JSON.stringify(path.instanceId)}: use 16 lowercase hex digits`,
      );
    }
    if (this.mode === 'direct' && path.instanceId === undefined) {
      throw new WardenError(
        'WARDEN_INVALID_OPTIONS',
        `A router in direct mode needs path.instanceId (calling ${key})`,
      );
    }
    return view;
  }
}

function checkPath(path: RoutePath): void {
  for (const field of ['namespace', 'component', 'endpoint'] as const) {
    const value: unknown = path?.[field];
    if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
      throw new WardenError(
        'WARDEN_INVALID_NAME',
        `Invalid ${field} ${JSON.stringify(value)}: names match ^[a-z0-9][a-z0-9_-]*$`,
      );
    }
  }
}

/** Reads a stream that is not a transport's own, noting in `seen` when a chunk arrived. */
async function collectIterable(stream: AsyncIterable<unknown>, seen: { chunk: boolean }): Promise<unknown> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) {
    seen.chunk = true;
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : chunks.length === 0 ? undefined : chunks;
}

/** The options of one try: the caller's, with what is left of the call's deadline. */
function callOptions(opts: CallOptions, deadline: number | undefined): CallOptions {
  if (deadline === undefined) return opts;
  const left = deadline - Date.now();
  if (left <= 0)
    throw new WardenError('WARDEN_DEADLINE_EXCEEDED', `No complete response within ${opts.timeoutMs} ms`);
  return { ...opts, timeoutMs: left };
}

/**
 * Creates a router over `discovery`.
 *
 * @example
 * ```ts
 * const router = createRouter({ discovery, mode: 'least-inflight' });
 * const path = { namespace: 'shop', component: 'cart', endpoint: 'add' };
 * const total = await router.request(path, { sku: 'a1' }, { timeoutMs: 2000 });
 * for await (const chunk of router.call(path, { stream: true })) console.log(chunk);
 * await router.close();
 * ```
 */
export function createRouter(options: RouterOptions): Router {
  return new Router(options);
}
