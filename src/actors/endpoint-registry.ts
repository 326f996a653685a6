import type { Logger } from 'pino';
import { type ErrorCode, isErrorCode, messageOf, WardenError } from '../core/errors.js';
import type { SystemHealth } from '../core/health.js';
import {
  type EndpointRegistration,
  endpointPath,
  INSTANCE_ID_PATTERN,
  type InboundRequest,
  type InflightRequest,
  NAME_PATTERN,
  type ResponseSink,
  type WireError,
} from '../core/request-plane.js';
import { Context, type Entry, expire, Inflight, inflightOf } from './inflight.js';

/** Hooks a metrics collector implements (e.g. `createMetrics().observer('tcp')`). */
export interface RequestObserver {
  /** A request reached a registered endpoint's handler; called once per request. */
  requestStarted(path: string): void;
  /** That request's response ended, with its error code when it failed; called once per request. */
  requestEnded(path: string, code: ErrorCode | undefined, durationMs: number): void;
  /**
   * Payload bytes of a registered endpoint: `in` once per request (its body as received), `out`
   * once per response chunk (as encoded: JSON text in UTF-8, or the raw bytes), transport framing
   * and headers not counted. Optional: without it, transports measure nothing.
   */
  bytes?(path: string, direction: 'in' | 'out', n: number): void;
}

/** Counters of one endpoint, as `$SRV.STATS`, `/metrics` and the dashboard show them. */
export interface EndpointInfo {
  readonly path: string;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly instanceId: string;
  readonly draining: boolean;
  readonly inflight: number;
  readonly requests: number;
  readonly errors: number;
  /** Sum of handling times, ms. */
  readonly processingMs: number;
  readonly lastError?: WireError;
}

const ALREADY_DONE: InflightRequest = { cancel() {}, fail() {}, done: Promise.resolve() };

/** Builds a wire error from anything a handler threw. Messages never include stacks or paths. */
export function toWireError(err: unknown): WireError {
  if (err instanceof WardenError) return err.toWire();
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return { code, message: messageOf(err) };
  return { code: 'WARDEN_HANDLER_ERROR', message: messageOf(err) };
}

/** Throws `WARDEN_INVALID_NAME` unless `value` is a valid namespace/component/endpoint name. */
export function checkName(kind: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new WardenError(
      'WARDEN_INVALID_NAME',
      `Invalid ${kind} name ${JSON.stringify(value)}: names match ^[a-z0-9][a-z0-9_-]*$ (lowercase letters, digits, _ and -)`,
    );
  }
  return value;
}

/**
 * The endpoints of one transport server, keyed by `namespace/component/endpoint`. It validates
 * registrations, dispatches requests to handlers (schema, deadline, cancel, back-pressure), and
 * drains endpoints. Transports decode frames into an {@link InboundRequest} and give a
 * {@link ResponseSink}; everything else is here, so all transports keep the same promises.
 */
export class EndpointRegistry {
  private readonly entries = new Map<string, Entry>();
  /** The path of the last request, by its parts: most requests go where the previous one went. */
  private lastNamespace = '';
  private lastComponent = '';
  private lastEndpoint = '';
  private lastPath = '';
  /**
   * True when the observer counts bytes. Transports test it before measuring a body or a chunk, so
   * a server without such an observer does no work per message for it.
   */
  readonly countsBytes: boolean;

  constructor(
    private readonly log: Logger,
    readonly observer?: RequestObserver,
  ) {
    this.countsBytes = typeof observer?.bytes === 'function';
  }

  /**
   * Counts `n` response bytes of the request `inflight` (what {@link dispatch} returned) as `out`
   * for its endpoint. Call it only when {@link countsBytes} is true.
   */
  sent(inflight: InflightRequest | undefined, n: number): void {
    if (inflight instanceof Inflight) this.observer?.bytes?.(inflight.entry.path, 'out', n);
  }

  /** Validates and adds an endpoint; `WARDEN_ENDPOINT_EXISTS` on a duplicate path. */
  add(reg: EndpointRegistration): string {
    checkName('namespace', reg.namespace);
    checkName('component', reg.component);
    checkName('endpoint', reg.endpoint);
    if (typeof reg.instanceId !== 'string' || !INSTANCE_ID_PATTERN.test(reg.instanceId)) {
      throw new WardenError(
        'WARDEN_INVALID_NAME',
        `Invalid instance id ${JSON.stringify(reg.instanceId)}: use 16 lowercase hex digits (newInstanceId() makes one)`,
      );
    }
    if (typeof reg.handler !== 'function') {
      throw new WardenError(
        'WARDEN_INVALID_OPTIONS',
        `Invalid registration of '${reg.endpoint}': handler must be a function`,
      );
    }
    const path = endpointPath(reg.namespace, reg.component, reg.endpoint);
    if (this.entries.has(path)) {
      throw new WardenError(
        'WARDEN_ENDPOINT_EXISTS',
        `Endpoint '${path}' is already registered on this server; unregister it first (duplicates are refused, never overwritten)`,
      );
    }
    this.entries.set(path, {
      reg,
      path,
      handler: reg.handler,
      schema: reg.schema,
      draining: false,
      first: undefined,
      inflight: 0,
      requests: 0,
      errors: 0,
      processingMs: 0,
      lastError: undefined,
      log: undefined,
    });
    reg.health.setEndpoint(path, 'ready');
    return path;
  }

  /** Finds an entry by full path, or by endpoint name alone where that is unambiguous. */
  find(endpoint: string): string {
    if (this.entries.has(endpoint)) return endpoint;
    const matches = [...this.entries.keys()].filter((p) => p.endsWith(`/${endpoint}`));
    if (matches.length === 1) return matches[0] as string;
    if (matches.length === 0)
      throw new WardenError(
        'WARDEN_ENDPOINT_NOT_FOUND',
        `No endpoint '${endpoint}' is registered on this server`,
      );
    throw new WardenError(
      'WARDEN_INVALID_NAME',
      `Endpoint name '${endpoint}' is ambiguous (${matches.join(', ')}); pass the full path namespace/component/endpoint`,
    );
  }

  /**
   * Drains an endpoint: new calls get `WARDEN_ENDPOINT_DRAINING`, in-flight calls may finish for
   * `drainMs`, then the rest are aborted with `WARDEN_ENDPOINT_DRAINING`; then it is removed.
   */
  async remove(path: string, drainMs: number): Promise<void> {
    const entry = this.entries.get(path);
    if (!entry) return;
    entry.draining = true;
    entry.reg.health.setEndpoint(path, 'notready', 'draining');
    await this.drainEntry(entry, drainMs);
    this.entries.delete(path);
    entry.reg.health.removeEndpoint(path);
  }

  /** Drains and removes every endpoint (server stop). */
  async removeAll(drainMs: number): Promise<void> {
    await Promise.all([...this.entries.keys()].map((p) => this.remove(p, drainMs)));
  }

  /** The registrations, in registration order (NATS re-subscribes these on every reconnect). */
  registrations(): EndpointRegistration[] {
    return [...this.entries.values()].filter((e) => !e.draining).map((e) => e.reg);
  }

  /** Counters of every endpoint. */
  list(): EndpointInfo[] {
    return [...this.entries.values()].map((e) => ({
      path: e.path,
      namespace: e.reg.namespace,
      component: e.reg.component,
      endpoint: e.reg.endpoint,
      instanceId: e.reg.instanceId,
      draining: e.draining,
      inflight: e.inflight,
      requests: e.requests,
      errors: e.errors,
      processingMs: e.processingMs,
      ...(e.lastError ? { lastError: e.lastError } : {}),
    }));
  }

  /** The registration at `path`, draining or not. */
  registration(path: string): EndpointRegistration | undefined {
    return this.entries.get(path)?.reg;
  }

  /** Whether any endpoint here (draining or not) reports to `health`. */
  usesHealth(health: SystemHealth): boolean {
    for (const e of this.entries.values()) if (e.reg.health === health) return true;
    return false;
  }

  /** Requests in flight over all endpoints. */
  get inflight(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.inflight;
    return n;
  }

  /** Whether an endpoint of this path exists and is serving (not draining). */
  has(path: string): boolean {
    const e = this.entries.get(path);
    return e !== undefined && !e.draining;
  }

  /**
   * Serves one request: resolves the endpoint and instance, validates the body, runs the handler with
   * a deadline and a cancel signal, and writes chunks to `sink` with back-pressure. Never throws:
   * every failure reaches the sink as one `error`. `bodyBytes` is the size of the request body as it
   * arrived, counted as `in` for a registered endpoint when the observer counts bytes.
   */
  dispatch(req: InboundRequest, sink: ResponseSink, bodyBytes?: number): InflightRequest {
    const path = req.path ?? this.pathOf(req);
    const entry = this.entries.get(path);
    if (!entry) {
      sink.error({ code: 'WARDEN_ENDPOINT_NOT_FOUND', message: `No endpoint '${path}' is registered here` });
      return ALREADY_DONE;
    }
    // Only registered paths are counted: a caller cannot grow the metrics with made-up paths.
    if (bodyBytes !== undefined && this.countsBytes) this.observer?.bytes?.(entry.path, 'in', bodyBytes);
    if (req.instanceId && req.instanceId !== entry.reg.instanceId) {
      sink.error({
        code: 'WARDEN_INSTANCE_NOT_FOUND',
        message: `Endpoint '${path}' has no instance '${req.instanceId}' here`,
      });
      return ALREADY_DONE;
    }
    if (entry.draining) {
      sink.error({
        code: 'WARDEN_ENDPOINT_DRAINING',
        message: `Endpoint '${path}' is draining and takes no new requests`,
      });
      return ALREADY_DONE;
    }
    entry.requests++;
    this.observer?.requestStarted(path);
    const inflight = new Inflight(entry, sink, performance.now(), this.observer);
    inflight.link();
    if (req.deadline !== undefined) {
      const left = req.deadline - Date.now();
      if (left <= 0) {
        expire(inflight);
        return inflight;
      }
      // A shared function and its argument: no closure per request.
      inflight.timer = setTimeout(expire, left, inflight);
    }
    let body = req.body;
    if (entry.schema) {
      const parsed = entry.schema.safeParse(body);
      if (!parsed.success) {
        const issues = parsed.error.issues
          .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
          .join('; ');
        inflight.fail({
          code: 'WARDEN_INVALID_REQUEST',
          message: `Invalid request body for '${path}': ${issues}`,
        });
        return inflight;
      }
      body = parsed.data;
    }
    void this.run(entry, inflight, body, req);
    return inflight;
  }

  /** The registry key of a request (the same string as the last one's when the parts are the same). */
  private pathOf(req: InboundRequest): string {
    const { namespace, component, endpoint } = req;
    if (
      namespace !== this.lastNamespace ||
      component !== this.lastComponent ||
      endpoint !== this.lastEndpoint
    ) {
      this.lastNamespace = namespace;
      this.lastComponent = component;
      this.lastEndpoint = endpoint;
      this.lastPath = endpointPath(namespace, component, endpoint);
    }
    return this.lastPath;
  }

  private async run(entry: Entry, inflight: Inflight, body: unknown, req: InboundRequest): Promise<void> {
    const ctx = new Context(inflight, req, this.log);
    try {
      const result = entry.handler(body, ctx);
      if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
        const iterator = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        try {
          while (!inflight.finished) {
            const step = await iterator.next();
            if (step.done || inflight.finished) break;
            const pending = inflight.sink.chunk(step.value);
            if (pending) await pending;
          }
        } finally {
          // Ends the handler's generator (runs its finally blocks) when we stop early.
          if (inflight.finished) void Promise.resolve(iterator.return?.()).catch(() => {});
        }
      } else {
        const value = await result;
        if (!inflight.finished) {
          const pending = inflight.sink.chunk(value, true);
          if (pending) await pending;
        }
      }
      inflight.finish();
    } catch (err) {
      if (inflight.finished) return;
      const wire = toWireError(err);
      if (!(err instanceof WardenError)) ctx.log.warn({ err: messageOf(err) }, 'handler failed');
      inflight.fail(wire);
    }
  }

  private async drainEntry(entry: Entry, drainMs: number): Promise<void> {
    if (entry.inflight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(inflightOf(entry).map((i) => i.done));
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), drainMs);
    });
    const timedOut = await Promise.race([all.then(() => false), expired]);
    clearTimeout(timer);
    if (timedOut) {
      for (const i of inflightOf(entry)) {
        i.fail({
          code: 'WARDEN_ENDPOINT_DRAINING',
          message: `Endpoint '${entry.path}' was unregistered; drain time (${drainMs} ms) ran out`,
        });
      }
    }
  }
}
