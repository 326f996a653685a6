import type { EndpointInfo } from '../actors/endpoint-registry.js';
import type { ChildStatus, Supervisor, SupervisorSnapshot } from '../actors/supervisor.js';
import type { FailureReport } from '../core/failure.js';
import type { HealthReport, SystemHealth } from '../core/health.js';
import type { TransportName } from '../core/request-plane.js';
import type { MachineGraph } from './graph.js';
import { wardenMachineGraphs } from './machines.js';

/**
 * What the dashboard reads of a transport server: every warden server (`createTcpServer`,
 * `createHttp2Server`, `createNatsServer`) has it.
 */
export interface DashboardServer {
  readonly transportName: TransportName;
  readonly state: string;
  readonly failure: FailureReport | undefined;
  isHealthy(): boolean;
  address(): string;
  endpoints(): EndpointInfo[];
  /** The lifecycle actor; when present, its transitions show on the timeline as they happen. */
  readonly actor?: { subscribe(observer: (snapshot: { value: unknown }) => void): { unsubscribe(): void } };
}

/** A transport server as the dashboard shows it. */
export interface ServerView {
  /** `tcp#1`, `http2#1`, …: stable within one dashboard. */
  readonly id: string;
  readonly transport: TransportName;
  readonly address: string | undefined;
  readonly state: string;
  readonly healthy: boolean;
  readonly failure?: FailureReport;
  readonly endpoints: readonly EndpointInfo[];
}

/** One line of the dashboard's timeline: a child's transition, or a supervisor's or server's. */
export interface TimelineEntry {
  readonly seq: number;
  /** Epoch ms. */
  readonly at: number;
  /** `supervisor` for a child or a supervisor itself, `server` for a transport server. */
  readonly kind: 'child' | 'supervisor' | 'server';
  /** Dashboard key of the actor: `sup/child`, `sup/nested/child`, `sup` or a server id. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
  readonly attempt?: number;
  readonly failure?: FailureReport;
}

/** The body of `GET /api/snapshot`, and the first event of `/events`. */
export interface DashboardSnapshot {
  readonly title: string;
  readonly seq: number;
  readonly now: number;
  /** Whether the page may reconnect or restart children (POST routes enabled). */
  readonly actions: boolean;
  readonly machines: Record<string, MachineGraph>;
  readonly supervisors: readonly SupervisorSnapshot[];
  readonly servers: readonly ServerView[];
  readonly timeline: readonly TimelineEntry[];
  readonly health?: HealthReport;
}

/** A batch of changes since the previous event of `/events`. */
export interface DashboardDiff {
  readonly seq: number;
  readonly now: number;
  /** New statuses of children, by dashboard key (`sup/child`). A nested supervisor child also gets its own state. */
  readonly children: ReadonlyArray<{ key: string; status: ChildStatus; supervisorState?: string }>;
  /** Top-level supervisors whose own state or report changed. */
  readonly supervisors: ReadonlyArray<{ id: string; state: string; report?: FailureReport }>;
  readonly servers?: readonly ServerView[];
  readonly timeline: readonly TimelineEntry[];
  readonly health?: HealthReport;
}

/**
 * The dashboard's model of the system: follows supervisors (their `transition` events and their own
 * actor), transport servers and health; keeps a bounded timeline; and hands out full snapshots or
 * the changes since the last batch. It does nothing per event beyond recording it: batches are
 * built only when someone asks (the dashboard asks at most `updatesPerSecond` times a second, and
 * only while a page is connected).
 */
export class DashboardState {
  private readonly dirtyChildren = new Map<string, Supervisor>();
  private readonly dirtySupervisors = new Set<Supervisor>();
  private pendingTimeline: TimelineEntry[] = [];
  private readonly timeline: TimelineEntry[] = [];
  private healthDirty = false;
  private seq = 0;
  private timelineSeq = 0;
  private lastServers = '';
  private lastStructure = '';
  private readonly serverIds: string[];
  private readonly serverStates: string[];
  private readonly stops: Array<() => void> = [];
  private readonly machines = wardenMachineGraphs();
  /** Set while nobody listens for batches, so nothing accumulates. */
  tracking = false;

  constructor(
    readonly title: string,
    readonly supervisors: readonly Supervisor[],
    readonly servers: readonly DashboardServer[],
    readonly health: SystemHealth | undefined,
    readonly actions: boolean,
    private readonly onChange: () => void,
    private readonly timelineSize = 500,
  ) {
    const counts = new Map<string, number>();
    this.serverIds = servers.map((s) => {
      const n = (counts.get(s.transportName) ?? 0) + 1;
      counts.set(s.transportName, n);
      return `${s.transportName}#${n}`;
    });
    this.serverStates = servers.map((s) => s.state);
    for (const sup of supervisors) this.follow(sup);
    servers.forEach((server, i) => {
      const sub = server.actor?.subscribe((snap) => this.serverChanged(i, String(snap.value)));
      if (sub) this.stops.push(() => sub.unsubscribe());
    });
    if (health) this.stops.push(health.subscribe(() => this.healthChanged()));
  }

  /**
   * Starts (or restarts) recording changes for batches: what is pending is dropped, because the
   * pages about to get a snapshot will see it there.
   */
  startTracking(): void {
    this.tracking = true;
    this.dirtyChildren.clear();
    this.dirtySupervisors.clear();
    this.pendingTimeline = [];
    this.healthDirty = false;
    this.lastServers = JSON.stringify(this.serverViews());
    this.lastStructure = this.structure();
  }

  /**
   * The whole picture. Batches are not reset: a page that gets a snapshot and then a batch with
   * changes it already saw applies them again (timeline entries carry a `seq` to skip repeats).
   */
  snapshot(): DashboardSnapshot {
    const servers = this.serverViews();
    return {
      title: this.title,
      seq: this.seq,
      now: Date.now(),
      actions: this.actions,
      machines: this.machines,
      supervisors: this.supervisors.map((s) => s.getSnapshot()),
      servers,
      timeline: this.timeline.slice(),
      ...(this.health ? { health: this.health.report() } : {}),
    };
  }

  /**
   * The changes since the last batch, or `'resync'` when children were added or removed (send a
   * snapshot instead), or undefined when nothing changed.
   */
  diff(): DashboardDiff | 'resync' | undefined {
    const structure = this.structure();
    if (structure !== this.lastStructure) return 'resync';
    const servers = this.serverViews();
    const serversJson = JSON.stringify(servers);
    const serversChanged = serversJson !== this.lastServers;
    if (
      this.dirtyChildren.size === 0 &&
      this.dirtySupervisors.size === 0 &&
      this.pendingTimeline.length === 0 &&
      !this.healthDirty &&
      !serversChanged
    )
      return undefined;
    this.lastServers = serversJson;
    // One snapshot per supervisor with changes, however many of its children changed.
    const views = new Map<Supervisor, SupervisorSnapshot>();
    const view = (sup: Supervisor): SupervisorSnapshot => {
      let v = views.get(sup);
      if (!v) {
        v = sup.getSnapshot();
        views.set(sup, v);
      }
      return v;
    };
    const children: Array<{ key: string; status: ChildStatus; supervisorState?: string }> = [];
    for (const [key, sup] of this.dirtyChildren) {
      const found = findChild(view(sup), key.slice(sup.id.length + 1).split('/'));
      if (found)
        children.push({
          key,
          status: found.status,
          ...(found.supervisor ? { supervisorState: found.supervisor.state } : {}),
        });
    }
    const supervisors = [...this.dirtySupervisors].map((sup) => {
      const v = view(sup);
      return { id: v.id, state: v.state, ...(v.report ? { report: v.report } : {}) };
    });
    const diff: DashboardDiff = {
      seq: ++this.seq,
      now: Date.now(),
      children,
      supervisors,
      ...(serversChanged ? { servers } : {}),
      timeline: this.pendingTimeline,
      ...(this.healthDirty && this.health ? { health: this.health.report() } : {}),
    };
    this.dirtyChildren.clear();
    this.dirtySupervisors.clear();
    this.pendingTimeline = [];
    this.healthDirty = false;
    return diff;
  }

  /** Stops following everything. */
  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  /** The supervisor with this id, if the dashboard shows it. */
  supervisor(id: string): Supervisor | undefined {
    return this.supervisors.find((s) => s.id === id);
  }

  // ---- following ---------------------------------------------------------------------------

  private follow(sup: Supervisor): void {
    this.stops.push(
      sup.on('transition', (e) => {
        const key = `${sup.id}/${e.child}`;
        this.record({
          kind: 'child',
          key,
          from: e.from,
          to: e.to,
          attempt: e.attempt,
          ...(e.failure ? { failure: e.failure } : {}),
        });
        if (this.tracking) {
          this.dirtyChildren.set(key, sup);
          // A nested child's change also changes its supervisor's row (`outer/inner`).
          const parts = e.child.split('/');
          for (let i = 1; i < parts.length; i++)
            this.dirtyChildren.set(`${sup.id}/${parts.slice(0, i).join('/')}`, sup);
        }
        this.onChange();
      }),
    );
    let last = String(sup.actor.getSnapshot().value);
    const sub = sup.actor.subscribe({
      next: (snap: { value: unknown; context?: { report?: FailureReport } }) => {
        const state = String(snap.value);
        if (state === last) return;
        const from = last;
        last = state;
        const report = snap.context?.report;
        this.record({
          kind: 'supervisor',
          key: sup.id,
          from,
          to: state,
          ...(report ? { failure: report } : {}),
        });
        if (this.tracking) this.dirtySupervisors.add(sup);
        this.onChange();
      },
      error: () => {},
    });
    this.stops.push(() => sub.unsubscribe());
  }

  private serverChanged(index: number, state: string): void {
    const from = this.serverStates[index] as string;
    if (from === state) return;
    this.serverStates[index] = state;
    const failure = (this.servers[index] as DashboardServer).failure;
    this.record({
      kind: 'server',
      key: this.serverIds[index] as string,
      from,
      to: state,
      ...(failure ? { failure } : {}),
    });
    this.onChange();
  }

  private healthChanged(): void {
    if (!this.tracking) return;
    this.healthDirty = true;
    this.onChange();
  }

  private record(entry: Omit<TimelineEntry, 'seq' | 'at'>): void {
    const full: TimelineEntry = { seq: ++this.timelineSeq, at: Date.now(), ...entry };
    this.timeline.push(full);
    if (this.timeline.length > this.timelineSize)
      this.timeline.splice(0, this.timeline.length - this.timelineSize);
    if (this.tracking) this.pendingTimeline.push(full);
  }

  private serverViews(): ServerView[] {
    return this.servers.map((s, i) => {
      let address: string | undefined;
      try {
        address = s.address();
      } catch {
        address = undefined; // not listening (yet, or any more)
      }
      const failure = s.failure;
      return {
        id: this.serverIds[i] as string,
        transport: s.transportName,
        address,
        state: s.state,
        healthy: s.isHealthy(),
        ...(failure ? { failure } : {}),
        endpoints: s.endpoints(),
      };
    });
  }

  /** The shape of the trees (which children exist): a change means the page needs a snapshot. */
  private structure(): string {
    const ids: string[] = [];
    const walk = (prefix: string, snap: SupervisorSnapshot): void => {
      for (const c of snap.children) {
        ids.push(`${prefix}/${c.id}`);
        if (c.supervisor) walk(`${prefix}/${c.id}`, c.supervisor);
      }
    };
    for (const sup of this.supervisors) walk(sup.id, sup.getSnapshot());
    return ids.join('\n');
  }
}

function findChild(
  snap: SupervisorSnapshot,
  path: readonly string[],
): SupervisorSnapshot['children'][number] | undefined {
  const [head, ...rest] = path;
  const child = snap.children.find((c) => c.id === head);
  if (!child || rest.length === 0) return child;
  return child.supervisor ? findChild(child.supervisor, rest) : undefined;
}
