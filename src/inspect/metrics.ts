import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../actors/endpoint-registry.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { ChildStatus, SupervisorSnapshot } from '../actors/supervisor-types.js';
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

/** Label values of one endpoint, made once per path (not per request). */
interface PathLabels {
  readonly path: { transport: string; path: string };
  readonly in: { transport: string; path: string; direction: 'in' };
  readonly out: { transport: string; path: string; direction: 'out' };
}

/**
 * Prometheus metrics of a warden process, in a registry of their own (never prom-client's global
 * one, so two systems in one process do not collide): requests, durations, in-flight, errors by
 * code, bytes in and out per endpoint, session states and restarts.
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
  /** Supervisors followed by {@link watchSupervisor}: read at each scrape. */
  private readonly supervisors = new Set<Supervisor>();
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
    help: 'Payload bytes of endpoints: request bodies received (in) and response chunks sent (out), framing not counted',
    labelNames: ['transport', 'path', 'direction'] as const,
    registers: [this.registry],
  });
  private readonly sessionState = new Gauge({
    name: 'warden_session_state',
    help: '1 for the state each supervised session is in, 0 for the others',
    labelNames: ['supervisor', 'child', 'state'] as const,
    registers: [this.registry],
    collect: () => this.collectSessions(),
  });
  private readonly restarts = new Gauge({
    name: 'warden_session_restarts',
    help: 'How often a supervisor respawned a child or forced it to reconnect',
    labelNames: ['supervisor', 'child'] as const,
    registers: [this.registry],
    collect: () => this.collectRestarts(),
  });

  /**
   * A request observer for one transport's servers (pass it as the server's `observer`): it counts
   * requests, in-flight requests, durations, errors by code and payload bytes per endpoint path.
   */
  observer(transport: string): Required<RequestObserver> {
    const byPath = new Map<string, PathLabels>();
    const labelsOf = (path: string): PathLabels => {
      let labels = byPath.get(path);
      if (labels === undefined) {
        labels = {
          path: { transport, path },
          in: { transport, path, direction: 'in' },
          out: { transport, path, direction: 'out' },
        };
        byPath.set(path, labels);
      }
      return labels;
    };
    return {
      requestStarted: (path) => {
        const labels = labelsOf(path).path;
        this.requests.inc(labels);
        this.inflight.inc(labels);
      },
      requestEnded: (path, code, durationMs) => {
        const labels = labelsOf(path).path;
        this.inflight.dec(labels);
        this.duration.observe(labels, durationMs / 1000);
        if (code) this.errors.inc({ transport, path, code });
      },
      bytes: (path, direction, n) => {
        const labels = labelsOf(path);
        this.bytes.inc(direction === 'in' ? labels.in : labels.out, n);
      },
    };
  }

  /**
   * Follows a supervisor's whole tree (nested supervisors too) into `warden_session_state` and
   * `warden_session_restarts`, labelled `supervisor` (the path of the owning supervisor, e.g.
   * `root/group`) and `child`. Read at each scrape, so it costs nothing per transition and shows
   * children added, removed or restarted since. Returns a function that stops following.
   */
  watchSupervisor(sup: Supervisor): () => void {
    this.supervisors.add(sup);
    return () => {
      this.supervisors.delete(sup);
    };
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private collectSessions(): void {
    this.sessionState.reset();
    for (const sup of this.supervisors) {
      walk(sup.getSnapshot(), sup.id, (supervisor, child, status) => {
        for (const s of SESSION_STATES)
          this.sessionState.set({ supervisor, child, state: s }, s === status.state ? 1 : 0);
      });
    }
  }

  private collectRestarts(): void {
    this.restarts.reset();
    for (const sup of this.supervisors) {
      walk(sup.getSnapshot(), sup.id, (supervisor, child, status) => {
        this.restarts.set({ supervisor, child }, status.restarts);
      });
    }
  }
}

/** Calls `visit` for every child of a supervisor snapshot and of its nested supervisors. */
function walk(
  snap: SupervisorSnapshot,
  path: string,
  visit: (supervisor: string, child: string, status: ChildStatus) => void,
): void {
  for (const c of snap.children) {
    visit(path, c.id, c.status);
    if (c.supervisor) walk(c.supervisor, `${path}/${c.id}`, visit);
  }
}

/** Creates a {@link Metrics} with its own registry. */
export function createMetrics(): Metrics {
  return new Metrics();
}
