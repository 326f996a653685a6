import { z } from 'zod';
import type { FailureReport } from './failure.js';

/** Readiness of one endpoint. */
export type EndpointStatus = 'ready' | 'notready';

/** What health knows about one session (a supervised connection). */
export interface SessionHealth {
  readonly state: string;
  readonly ready: boolean;
  readonly lastFailure?: FailureReport;
}

/** What health knows about one transport server (a listener that serves endpoints). */
export interface ServerHealth {
  /** `tcp`, `http2` or `nats`. */
  readonly transport: string;
  /** Its lifecycle state: `idle`, `starting`, `listening`, `draining`, `stopped` or `failed`. */
  readonly state: string;
  /** True only while `listening`: the server can take work. */
  readonly ready: boolean;
  /** What clients dial, once the server has one. */
  readonly address?: string;
  /** Why it failed (e.g. `EADDRINUSE` while starting), when it did. */
  readonly lastFailure?: FailureReport;
}

/** What {@link SystemHealth.setServer} takes: a {@link ServerHealth} without `ready`, which follows from `state`. */
export type ServerHealthInput = Omit<ServerHealth, 'ready'>;

/** The body of `GET /health`. */
export interface HealthReport {
  readonly status: 'ready' | 'notready';
  readonly uptimeMs: number;
  readonly endpoints: Readonly<Record<string, { status: EndpointStatus; reason?: string }>>;
  readonly sessions: Readonly<Record<string, SessionHealth>>;
  /** Transport servers that report here (see `TransportServer.reportHealth`), by name. */
  readonly servers: Readonly<Record<string, ServerHealth>>;
  /** Readiness holds in force: the system is not ready while any is held. */
  readonly holds: readonly string[];
}

/**
 * Tracks the health of a process: per-endpoint readiness, session states with their failure
 * reports, transport-server states with theirs, and readiness holds (e.g. "warming cache").
 * Overall status is `ready` only when every endpoint is ready, every required session is ready,
 * every required server is listening and no hold is in force.
 * Pure state, no I/O: the status server and the dashboard read it.
 *
 * @example
 * ```ts
 * const health = new SystemHealth();
 * health.hold('warmup', 'loading the model');
 * await server.registerEndpoint({ ..., health });
 * health.release('warmup');
 * health.report().status; // 'ready'
 * ```
 */
export class SystemHealth {
  private readonly startedAt: number;
  private readonly endpoints = new Map<string, { status: EndpointStatus; reason?: string }>();
  private readonly sessions = new Map<string, SessionHealth & { required: boolean }>();
  private readonly servers = new Map<string, ServerHealth & { required: boolean }>();
  private readonly holds = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  /** Sets an endpoint's readiness; `reason` says why it is not ready. */
  setEndpoint(path: string, status: EndpointStatus, reason?: string): void {
    this.endpoints.set(path, reason === undefined ? { status } : { status, reason });
    this.changed();
  }

  /** Forgets an endpoint (after it was unregistered). */
  removeEndpoint(path: string): void {
    if (this.endpoints.delete(path)) this.changed();
  }

  /** Records a session's state; a required session that is not ready makes the system not ready. */
  setSession(name: string, state: string, lastFailure?: FailureReport, required = true): void {
    const ready = state === 'ready';
    this.sessions.set(
      name,
      lastFailure ? { state, ready, lastFailure, required } : { state, ready, required },
    );
    this.changed();
  }

  /** Forgets a session. */
  removeSession(name: string): void {
    if (this.sessions.delete(name)) this.changed();
  }

  /** What is known about one session, or undefined. */
  session(name: string): SessionHealth | undefined {
    const s = this.sessions.get(name);
    if (!s) return undefined;
    return s.lastFailure
      ? { state: s.state, ready: s.ready, lastFailure: s.lastFailure }
      : { state: s.state, ready: s.ready };
  }

  /**
   * Records a transport server's state; it is ready only while `listening`. A required server that
   * is not ready makes the system not ready. Transport servers call this themselves once they
   * report to this health (`server.reportHealth(health)`, or by registering an endpoint with it).
   */
  setServer(name: string, server: ServerHealthInput, required = true): void {
    const entry: ServerHealth & { required: boolean } = {
      transport: server.transport,
      state: server.state,
      ready: server.state === 'listening',
      ...(server.address === undefined ? {} : { address: server.address }),
      ...(server.lastFailure === undefined ? {} : { lastFailure: server.lastFailure }),
      required,
    };
    this.servers.set(name, entry);
    this.changed();
  }

  /** Whether a server of this name reports here. */
  hasServer(name: string): boolean {
    return this.servers.has(name);
  }

  /** Forgets a server. */
  removeServer(name: string): void {
    if (this.servers.delete(name)) this.changed();
  }

  /** Holds readiness off until {@link release} is called with the same name. */
  hold(name: string, reason: string): void {
    this.holds.set(name, reason);
    this.changed();
  }

  /** Releases a readiness hold. */
  release(name: string): void {
    if (this.holds.delete(name)) this.changed();
  }

  /**
   * True when every endpoint and every required session is ready, every required server is
   * listening, and nothing holds readiness.
   */
  isReady(): boolean {
    if (this.holds.size > 0) return false;
    for (const e of this.endpoints.values()) if (e.status !== 'ready') return false;
    for (const s of this.sessions.values()) if (s.required && !s.ready) return false;
    for (const s of this.servers.values()) if (s.required && !s.ready) return false;
    return true;
  }

  /** The whole picture, as `GET /health` serves it. */
  report(): HealthReport {
    const sessions: Record<string, SessionHealth> = {};
    for (const [name, s] of this.sessions) {
      sessions[name] = s.lastFailure
        ? { state: s.state, ready: s.ready, lastFailure: s.lastFailure }
        : { state: s.state, ready: s.ready };
    }
    const servers: Record<string, ServerHealth> = {};
    for (const [name, { required: _required, ...server }] of this.servers) servers[name] = server;
    return {
      status: this.isReady() ? 'ready' : 'notready',
      uptimeMs: this.now() - this.startedAt,
      endpoints: Object.fromEntries(this.endpoints),
      sessions,
      servers,
      holds: [...this.holds].map(([name, reason]) => `${name}: ${reason}`),
    };
  }

  /** Calls `listener` after every change; returns a function that stops it. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // A listener's failure must not break health tracking.
      }
    }
  }
}

/** Validates a `health` option: a {@link SystemHealth} (checked by shape, so copies of the package mix). */
export const SystemHealthOptionSchema = z.custom<SystemHealth>(
  (v) => typeof v === 'object' && v !== null && typeof (v as SystemHealth).setServer === 'function',
  'expected a SystemHealth',
);
