import { type Logger, pino } from 'pino';
import { type Actor, createActor, fromPromise } from 'xstate';
import { WardenError } from '../core/errors.js';
import type { FailureReport } from '../core/failure.js';
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

  constructor(options: TransportServerOptions, labels: Record<string, string>) {
    this.log = (options.logger ?? pino({ level: 'silent' })).child(labels);
    this.drainMs = options.drainMs ?? 5000;
    this.discovery = options.discovery;
    this.meta = options.meta ?? {};
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
      next: (snap) => this.log.debug({ state: snap.value }, 'transport server state'),
      error: () => {},
    });
    this.actor.start();
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
      throw err;
    }
  }

  async unregisterEndpoint(endpoint: string, opts: { drainMs?: number } = {}): Promise<void> {
    const path = this.registry.find(endpoint);
    await this.withdraw(path);
    await this.endpointRemoving(path);
    await this.registry.remove(path, opts.drainMs ?? this.drainMs);
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
