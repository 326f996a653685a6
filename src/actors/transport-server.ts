import { type Logger, pino } from 'pino';
import { type Actor, createActor, fromPromise } from 'xstate';
import { WardenError } from '../core/errors.js';
import type { FailureReport } from '../core/failure.js';
import type { SystemHealth } from '../core/health.js';
import {
  type EndpointRegistration,
  endpointPath,
  type RequestPlaneServer,
  type TransportName,
} from '../core/request-plane.js';
import type { Discovery } from '../discovery/discovery.js';
import { type TransportServerState, transportServerMachine } from '../machines/transport-server.js';
import { type EndpointInfo, EndpointRegistry, type RequestObserver } from './endpoint-registry.js';

/** Options every transport server takes. */
export interface TransportServerOptions {
  /** A pino logger; the default is silent. */
  readonly logger?: Logger;
  /** Receives per-request metrics (e.g. `createMetrics().observer`). */
  readonly observer?: RequestObserver;
  /** Drain time for `stop()` and `unregisterEndpoint()` when none is given (default 5000). */
  readonly drainMs?: number;
  /**
   * Where to publish endpoints: each is published once it can serve, and withdrawn before it
   * drains (on `unregisterEndpoint` and `stop`).
   */
  readonly discovery?: Discovery;
  /** Labels published with every instance record (zone, version, ...). */
  readonly meta?: Readonly<Record<string, string>>;
  /**
   * Where this server reports its own state from the moment it is created (see
   * {@link TransportServer.reportHealth}): a health that waits for the server is not ready before it
   * listens, nor once it drains, stops or fails, and `/health` shows the failure report.
   */
  readonly health?: SystemHealth;
  /** The server's name under `servers` in {@link health} (default: the transport's name, made unique). */
  readonly healthName?: string;
}

/** Options of {@link TransportServer.reportHealth}. */
export interface ReportHealthOptions {
  /**
   * The name under `servers` in the health. Default: the transport's name (`tcp`, `http2`, `nats`),
   * or `tcp-2`, `tcp-3`, … when a server of that name already reports there. A given name replaces
   * whatever reported under it (so a replacement server can take over a failed one's entry).
   */
  readonly name?: string;
  /** Whether the system is not ready while this server is not listening (default true). */
  readonly required?: boolean;
}

/** Which server reports under each name, per health: a name taken over is left by its last owner. */
const healthOwners = new WeakMap<SystemHealth, Map<string, TransportServer>>();

/** How a server reports to one health. */
interface HealthLink {
  name: string;
  required: boolean;
  /** Made by registering an endpoint (not asked for): released with the last such endpoint. */
  auto: boolean;
  /** What was published last, so that unchanged snapshots publish nothing. */
  published: string | undefined;
}

/**
 * The part every transport server shares: the lifecycle actor, the endpoint registry and health.
 * A transport supplies `listen` (open the listener, resolve to the address), `close` (close the
 * listener and its connections after endpoints drained) and, where it needs them, hooks that run
 * when endpoints come and go.
 */
export abstract class TransportServer implements RequestPlaneServer {
  abstract readonly transportName: TransportName;
  /** The lifecycle actor (`idle → starting → listening → draining → stopped`, or `failed`). */
  readonly actor: Actor<typeof transportServerMachine>;
  /** Endpoints registered on this server. */
  readonly registry: EndpointRegistry;
  protected readonly log: Logger;
  protected readonly drainMs: number;
  private readonly discovery: Discovery | undefined;
  private readonly meta: Readonly<Record<string, string>>;
  /** The transport's name, known in the constructor (subclass fields such as `transportName` are not yet). */
  private readonly healthKind: string;
  private readonly healthLinks = new Map<SystemHealth, HealthLink>();
  /** The server left `idle` to start: once it stops it is shown as stopped, not forgotten. */
  private everStarted = false;

  constructor(options: TransportServerOptions, labels: Record<string, string>) {
    this.log = (options.logger ?? pino({ level: 'silent' })).child(labels);
    this.drainMs = options.drainMs ?? 5000;
    this.discovery = options.discovery;
    this.meta = options.meta ?? {};
    this.healthKind = labels.transport ?? 'server';
    this.registry = new EndpointRegistry(this.log, options.observer);
    this.actor = createActor(
      transportServerMachine.provide({
        actors: {
          listen: fromPromise(() => this.listen()),
          drain: fromPromise<void, { drainMs: number }>(({ input }) => this.drainAndClose(input.drainMs)),
        },
      }),
    );
    this.actor.subscribe({
      next: (snap) => {
        this.log.debug({ state: snap.value }, 'transport server state');
        if (snap.value !== 'idle' && snap.value !== 'stopped') this.everStarted = true;
        this.publishHealth();
      },
      error: () => {},
    });
    this.actor.start();
    if (options.health) {
      this.reportHealth(options.health, options.healthName === undefined ? {} : { name: options.healthName });
    }
  }

  /** Opens the listener (or connection); resolves to the address clients dial. */
  protected abstract listen(): Promise<string>;
  /** Closes the listener and every connection; endpoints have drained already. */
  protected abstract close(): Promise<void>;
  /** Runs after an endpoint was added (NATS subscribes it). */
  protected async endpointAdded(_reg: EndpointRegistration): Promise<void> {}
  /** Runs before an endpoint drains (NATS unsubscribes it so no new work arrives). */
  protected async endpointRemoving(_path: string): Promise<void> {}
  /** Extra health a transport knows of (NATS: its session is ready). */
  protected transportHealthy(): boolean {
    return true;
  }

  /** The lifecycle state. */
  get state(): TransportServerState {
    return this.actor.getSnapshot().value as TransportServerState;
  }

  /** Why the server failed, when it did. */
  get failure(): FailureReport | undefined {
    return this.actor.getSnapshot().context.report;
  }

  /** Starts listening; rejects with `WARDEN_SERVER_START_FAILED` (and the cause) when it cannot. */
  async start(): Promise<void> {
    if (this.state !== 'idle')
      throw new WardenError('WARDEN_SERVER_NOT_RUNNING', `Server is ${this.state}; a server starts once`);
    this.actor.send({ type: 'START' });
    const snap = await this.settled((s) => s !== 'starting');
    if (snap !== 'listening') {
      const report = this.failure;
      throw new WardenError(
        'WARDEN_SERVER_START_FAILED',
        `The ${this.transportName} server could not start: ${report?.summary ?? snap}`,
        report?.code ? { details: { code: report.code } } : undefined,
      );
    }
    this.log.info({ address: this.address() }, `${this.transportName} server listening`);
  }

  /** Stops: endpoints drain for `drainMs`, stragglers are aborted, then listener and connections close. */
  async stop(opts: { drainMs?: number } = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'failed') return;
    this.actor.send({ type: 'STOP', drainMs: opts.drainMs ?? this.drainMs });
    await this.settled((s) => s === 'stopped' || s === 'failed');
  }

  async registerEndpoint(reg: EndpointRegistration): Promise<void> {
    if (this.state !== 'listening') {
      throw new WardenError(
        'WARDEN_SERVER_NOT_RUNNING',
        `Cannot register '${String(reg?.endpoint)}': the ${this.transportName} server is ${this.state}, not listening; await server.start() first`,
      );
    }
    this.registry.add(reg);
    // Endpoints drain out of their health when the server stops or fails; the server stays there,
    // so that health is not ready with nothing left to serve.
    if (!this.healthLinks.has(reg.health)) this.linkHealth(reg.health, undefined, true, true);
    try {
      await this.endpointAdded(reg);
      await this.discovery?.register({
        namespace: reg.namespace,
        component: reg.component,
        endpoint: reg.endpoint,
        instanceId: reg.instanceId,
        transport: this.transportName,
        address: this.address(),
        meta: this.meta,
      });
    } catch (err) {
      await this.endpointRemoving(endpointPath(reg.namespace, reg.component, reg.endpoint)).catch(() => {});
      await this.registry.remove(endpointPath(reg.namespace, reg.component, reg.endpoint), 0);
      this.releaseHealth(reg.health);
      throw err;
    }
  }

  async unregisterEndpoint(endpoint: string, opts: { drainMs?: number } = {}): Promise<void> {
    const path = this.registry.find(endpoint);
    const health = this.registry.registration(path)?.health;
    await this.withdraw(path);
    await this.endpointRemoving(path);
    await this.registry.remove(path, opts.drainMs ?? this.drainMs);
    if (health) this.releaseHealth(health);
  }

  /**
   * Reports this server into `health` as `servers[name]`: its state, address and failure report,
   * kept up to date. While a required server is not `listening` (not yet started, starting,
   * draining, stopped or failed) the health is not ready and `/health` answers 503 with the report.
   * A server that is stopped without ever having started is removed from the health.
   *
   * Registering an endpoint with a health does this on its own (until that health's last endpoint
   * is unregistered); call it, or pass the `health` option, to be reported from before `start()`,
   * so that a server that cannot listen (e.g. `EADDRINUSE`) shows in `/health` too.
   * Returns a function that stops reporting and removes the entry.
   *
   * @example
   * ```ts
   * const health = new SystemHealth();
   * const server = createTcpServer({ port: 7000 });
   * server.reportHealth(health, { name: 'api' });
   * await server.start().catch(() => {}); // health.report().servers.api.lastFailure says why
   * ```
   */
  reportHealth(health: SystemHealth, opts: ReportHealthOptions = {}): () => void {
    if (typeof (health as Partial<SystemHealth> | null)?.setServer !== 'function') {
      throw new WardenError(
        'WARDEN_INVALID_OPTIONS',
        `The ${this.healthKind} server can report only to a SystemHealth (got ${typeof health})`,
      );
    }
    if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length === 0)) {
      throw new WardenError(
        'WARDEN_INVALID_OPTIONS',
        `Invalid health name ${JSON.stringify(opts.name)} for the ${this.healthKind} server: use a non-empty string`,
      );
    }
    this.linkHealth(health, opts.name, opts.required ?? true, false);
    return () => this.unlinkHealth(health);
  }

  address(): string {
    const address = this.actor.getSnapshot().context.address;
    if (!address)
      throw new WardenError(
        'WARDEN_SERVER_NOT_RUNNING',
        `The ${this.transportName} server has no address: it is ${this.state}`,
      );
    return address;
  }

  isHealthy(): boolean {
    return this.state === 'listening' && this.transportHealthy();
  }

  /** Endpoints with their counters. */
  endpoints(): EndpointInfo[] {
    return this.registry.list();
  }

  private linkHealth(health: SystemHealth, name: string | undefined, required: boolean, auto: boolean): void {
    const existing = this.healthLinks.get(health);
    if (existing) {
      if (!auto) {
        existing.auto = false;
        existing.required = required;
        if (name !== undefined && name !== existing.name) {
          this.unlinkHealth(health);
          this.linkHealth(health, name, required, false);
          return;
        }
        existing.published = undefined;
        this.publishHealth();
      }
      return;
    }
    const chosen = name ?? this.freeHealthName(health);
    let names = healthOwners.get(health);
    if (!names) {
      names = new Map();
      healthOwners.set(health, names);
    }
    // A server that reported under this name before stops doing so: the entry is ours now.
    const previous = names.get(chosen);
    if (previous && previous !== this) previous.healthLinks.delete(health);
    names.set(chosen, this);
    this.healthLinks.set(health, { name: chosen, required, auto, published: undefined });
    this.publishHealth();
  }

  private unlinkHealth(health: SystemHealth): void {
    const link = this.healthLinks.get(health);
    if (!link) return;
    this.healthLinks.delete(health);
    const names = healthOwners.get(health);
    if (names?.get(link.name) === this) names.delete(link.name);
    health.removeServer(link.name);
  }

  /** Drops a link made by registering endpoints once no endpoint here reports to that health. */
  private releaseHealth(health: SystemHealth): void {
    if (this.healthLinks.get(health)?.auto && !this.registry.usesHealth(health)) this.unlinkHealth(health);
  }

  private freeHealthName(health: SystemHealth): string {
    if (!health.hasServer(this.healthKind)) return this.healthKind;
    let n = 2;
    while (health.hasServer(`${this.healthKind}-${n}`)) n++;
    return `${this.healthKind}-${n}`;
  }

  /** Publishes the lifecycle state to every health this server reports to (rare: state changes). */
  private publishHealth(): void {
    if (this.healthLinks.size === 0) return;
    const { value, context } = this.actor.getSnapshot();
    const state = value as TransportServerState;
    const report = context.report;
    const key = `${state}|${context.address ?? ''}|${report ? `${report.at}|${report.summary}` : ''}`;
    for (const [health, link] of this.healthLinks) {
      if (link.published === key) continue;
      link.published = key;
      if (state === 'stopped' && !this.everStarted) {
        health.removeServer(link.name);
        continue;
      }
      health.setServer(
        link.name,
        {
          transport: this.healthKind,
          state,
          ...(context.address === undefined ? {} : { address: context.address }),
          ...(report === undefined ? {} : { lastFailure: report }),
        },
        link.required,
      );
    }
  }

  /** Reports a failure of the running listener: the server drains at once and ends `failed`. */
  protected fail(summary: string, code?: string): void {
    this.actor.send(code === undefined ? { type: 'FAIL', summary } : { type: 'FAIL', summary, code });
  }

  private async drainAndClose(drainMs: number): Promise<void> {
    const paths = this.registry.list().map((e) => e.path);
    await Promise.all(paths.map((p) => this.withdraw(p)));
    await Promise.all(paths.map((p) => this.endpointRemoving(p).catch(() => {})));
    await this.registry.removeAll(drainMs);
    await this.close();
  }

  /** Withdraws an endpoint from discovery before it drains; a discovery failure is logged, not thrown. */
  private async withdraw(path: string): Promise<void> {
    if (!this.discovery) return;
    const info = this.registry.list().find((e) => e.path === path);
    if (!info) return;
    try {
      await this.discovery.unregister(info.instanceId, {
        namespace: info.namespace,
        component: info.component,
        endpoint: info.endpoint,
      });
    } catch (err) {
      this.log.warn({ err: String(err), path }, 'could not withdraw the endpoint from discovery');
    }
  }

  private settled(done: (s: TransportServerState) => boolean): Promise<TransportServerState> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const s = this.state;
        if (done(s)) {
          resolve(s);
          return true;
        }
        return false;
      };
      if (check()) return;
      const sub = this.actor.subscribe(() => {
        if (check()) sub.unsubscribe();
      });
    });
  }
}
