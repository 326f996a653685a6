import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../actors/endpoint-registry.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { ErrorCode } from '../core/errors.js';
import type { SessionState } from '../machines/session.js';

const SESSION_STATES: readonly SessionState[] = [
  'connecting',
  'initializing',
  'ready',
  'reconnecting',
  'stopping',
  'fatal',
  'stopped',
];

/**
 * Prometheus metrics of a warden process, in a registry of their own (never prom-client's global
 * one, so two systems in one process do not collide): requests, durations, in-flight, errors by
 * code, bytes, session states and restarts.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * const server = createTcpServer({ observer: metrics.observer('tcp') });
 * metrics.watchSupervisor(sup);
 * createStatusServer({ health, metrics });
 * ```
 */
export class Metrics {
  /** The prom-client registry holding every warden metric. */
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'warden_requests_total',
    help: 'Requests served, by transport and endpoint path',
    labelNames: ['transport', 'path'] as const,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'warden_request_errors_total',
    help: 'Requests that ended with an error, by code',
    labelNames: ['transport', 'path', 'code'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'warden_request_duration_seconds',
    help: 'Time from dispatch to the end of the response',
    labelNames: ['transport', 'path'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly inflight = new Gauge({
    name: 'warden_requests_in_flight',
    help: 'Requests being served now',
    labelNames: ['transport', 'path'] as const,
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'warden_bytes_total',
    help: 'Bytes received and sent by transports',
    labelNames: ['transport', 'direction'] as const,
    registers: [this.registry],
  });
  private readonly sessionState = new Gauge({
    name: 'warden_session_state',
    help: '1 for the state each supervised session is in, 0 for the others',
    labelNames: ['supervisor', 'child', 'state'] as const,
    registers: [this.registry],
  });
  private readonly restarts = new Gauge({
    name: 'warden_session_restarts',
    help: 'How often a supervisor respawned a child or forced it to reconnect',
    labelNames: ['supervisor', 'child'] as const,
    registers: [this.registry],
  });

  /** A request observer for one transport's server (pass it as the server's `observer`). */
  observer(transport: string): RequestObserver & { bytes(direction: 'in' | 'out', n: number): void } {
    return {
      requestStarted: (path: string) => {
        this.requests.inc({ transport, path });
        this.inflight.inc({ transport, path });
      },
      requestEnded: (path: string, code: ErrorCode | undefined, durationMs: number) => {
        this.inflight.dec({ transport, path });
        this.duration.observe({ transport, path }, durationMs / 1000);
        if (code) this.errors.inc({ transport, path, code });
      },
      bytes: (direction, n) => this.bytes.inc({ transport, direction }, n),
    };
  }

  /** Follows a supervisor's children (and nested ones) into the session metrics; returns a stop function. */
  watchSupervisor(sup: Supervisor): () => void {
    const set = (child: string, state: SessionState): void => {
      for (const s of SESSION_STATES)
        this.sessionState.set({ supervisor: sup.id, child, state: s }, s === state ? 1 : 0);
      const status = sup.status(child);
      if (status) this.restarts.set({ supervisor: sup.id, child }, status.restarts);
    };
    for (const c of sup.getSnapshot().children) set(c.id, c.status.state);
    return sup.on('transition', (e) => set(e.child, e.to));
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Creates a {@link Metrics} with its own registry. */
export function createMetrics(): Metrics {
  return new Metrics();
}
