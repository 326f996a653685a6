import { type Logger, pino } from 'pino';
import { createActor, type SnapshotFrom } from 'xstate';
import { messageOf, WardenError } from '../core/errors.js';
import { createFailureReport, type FailureReport } from '../core/failure.js';
import type { RandomSource } from '../core/retry.js';
import { parseOptions } from '../core/validate.js';
import { sessionMachine } from '../machines/session.js';
import {
  type ChildExit,
  type Strategy,
  type SupervisorOps,
  type SupervisorOutput,
  supervisorMachine,
} from '../machines/supervisor.js';
import { indexScheduledEvents } from './indexed-cancel.js';
import { Emitter, type SupervisorEventMap } from './supervisor-events.js';
import { SliceScheduler } from './supervisor-scheduler.js';
import {
  type ChildRecord,
  type ChildState,
  type ChildStatus,
  clockNow,
  forceStop,
  NESTED_STATE,
  type Parent,
  type SessionActor,
  type SupervisorActor,
  type SupervisorOptions,
  SupervisorOptionsSchema,
  type SupervisorSnapshot,
  statusOf,
} from './supervisor-types.js';

export type {
  ChildState,
  ChildStatus,
  Clock,
  SupervisorActor,
  SupervisorOptions,
  SupervisorSnapshot,
} from './supervisor-types.js';

import { type ChildSpec, type ResolvedChildSpec, resolveChildSpec } from './supervisor-spec.js';

export type { SupervisorEventMap } from './supervisor-events.js';
export type { ChildSpec, RestartType, SessionChildSpec, SupervisorChildSpec } from './supervisor-spec.js';

/**
 * A supervisor: starts children (connector sessions or nested supervisors), restarts them by their
 * restart type, applies its strategy when one goes down, and gives up (stopping every child in
 * reverse start order) when it must intervene more than its intensity allows.
 * Create one with {@link createSupervisor}.
 */
export class Supervisor {
  /** The supervisor's id. */
  readonly id: string;
  /**
   * The underlying XState actor (the supervisor machine), for inspection; its system holds every
   * child. Drive the supervisor through its methods: the actor's own events are internal.
   */
  readonly actor: SupervisorActor;
  private readonly children = new Map<string, ChildRecord>();
  private readonly events = new Emitter<SupervisorEventMap>((err, event) =>
    this.log.error({ err: String(err), event }, 'a supervisor listener threw; other listeners still ran'),
  );
  private readonly log: Logger;
  /** The logger `log` was made from, before the `supervisor` binding. */
  private readonly baseLog: Logger;
  private readonly now: () => number;
  private readonly random: RandomSource;
  private readonly path: string;
  /** Prefix of every systemId in this supervisor: unique per incarnation of a nested supervisor. */
  private readonly systemPath: string;
  /** Incarnations per child id, kept across remove() so a re-added id never reuses a systemId. */
  private readonly incarnations = new Map<string, number>();
  /** Spawns asked for by the machine, done by {@link Supervisor.spawnPending} after its step. */
  private readonly pendingSpawns: Array<{ rec: ChildRecord; respawn: boolean }> = [];
  private readonly parentBubble: Emitter<SupervisorEventMap> | undefined;
  /**
   * The run queue of the tree when the root was given no clock (shared by nested supervisors):
   * spawns, delayed transitions and attempt completions run through it, bursts in time slices.
   * Undefined with a user clock (a `SimulatedClock`): then everything runs at once.
   */
  private readonly scheduler: SliceScheduler | undefined;
  private readonly strategy: Strategy;
  private endedPromise: Promise<SupervisorOutput> | undefined;

  /** @internal Use {@link createSupervisor}. */
  constructor(options: SupervisorOptions, children: readonly ChildSpec[], parent?: Parent) {
    this.id = options.id;
    const valid = parseOptions(
      SupervisorOptionsSchema,
      options,
      `options of supervisor '${String(options?.id)}'`,
    );
    this.strategy = valid.strategy;
    const intensity = valid.intensity;
    this.path = parent ? `${parent.path}/${options.id}` : options.id;
    this.systemPath = parent ? parent.systemPath : options.id;
    this.now = parent?.now ?? clockNow(options.clock);
    this.random = parent?.random ?? options.random ?? Math.random;
    // A nested supervisor binds its own path to the root's logger: a child of its parent's logger
    // would carry the `supervisor` key twice.
    this.baseLog = parent?.log ?? options.logger ?? pino({ level: 'silent' });
    this.log = this.baseLog.child({ supervisor: this.path });
    this.parentBubble = parent?.bubble;
    this.scheduler = parent ? parent.scheduler : options.clock ? undefined : new SliceScheduler();
    for (const spec of children) this.addRecord(resolveChildSpec(spec));

    const ops: SupervisorOps = {
      now: this.now,
      shouldRespawn: (childId, exit) => this.shouldRespawn(childId, exit),
      respawn: (childId) => this.respawn(childId),
      siblingsOf: (childId, strategy) => this.siblingsOf(childId, strategy),
      restartChildren: (ids, reason) => {
        for (const id of ids) this.forceReconnect(id, reason);
      },
      startChildren: () => {
        for (const rec of this.children.values()) this.pendingSpawns.push({ rec, respawn: false });
      },
      stopChildren: () => this.stopAllChildren(),
    };
    const input = { id: this.id, strategy: this.strategy, intensity, ops };
    this.actor = parent
      ? createActor(supervisorMachine, {
          parent: parent.actor,
          id: options.id,
          systemId: this.systemPath,
          input,
        })
      : createActor(supervisorMachine, {
          id: options.id,
          systemId: this.path,
          input,
          // Without a user clock, the scheduler's: its timers coalesce and fire into the sliced queue.
          clock: options.clock ?? (this.scheduler as SliceScheduler).clock,
          ...(options.inspect ? { inspect: options.inspect } : {}),
        });
    // Sessions share this system; stopping many with pending backoffs must not be quadratic.
    if (!parent) indexScheduledEvents(this.actor.system);
    this.actor.subscribe({
      next: (snap) => {
        this.spawnPending();
        if (snap.status === 'done') this.onSelfDone(snap.output);
      },
      error: (err) => this.log.error({ err: String(err) }, 'supervisor actor error'),
    });
  }

  /** Starts the supervisor and its children, in start order. */
  start(): this {
    if (this.actor.getSnapshot().status === 'active' && this.machineState() === 'idle') {
      if (!this.started) {
        this.started = true;
        this.actor.start();
      }
      this.actor.send({ type: 'START' });
    }
    return this;
  }
  private started = false;

  /**
   * Adds a child; it starts at once if the supervisor is running (without a user clock, behind the
   * children still waiting to start in slices, if any).
   */
  add(spec: ChildSpec): void {
    const state = this.machineState();
    if (state !== 'idle' && state !== 'running') {
      throw new WardenError(
        'WARDEN_SUPERVISOR_NOT_RUNNING',
        `Supervisor '${this.path}' is ${state}; children can no longer be added`,
      );
    }
    const rec = this.addRecord(resolveChildSpec(spec));
    // Behind the children still waiting to start, if any (a sliced start); else at once.
    if (state === 'running') {
      if (this.scheduler) this.scheduler.submitBackground(spawnLater, this, { rec, respawn: false });
      else this.spawn(rec);
    }
  }

  /** Stops a child (bounded by its `shutdownMs`) and forgets it. */
  async remove(id: string): Promise<void> {
    const rec = this.record(id);
    this.children.delete(id);
    await this.stopChild(rec);
  }

  /** Stops a child's current incarnation and starts a fresh one (not counted against intensity). */
  async restart(id: string): Promise<void> {
    const rec = this.record(id);
    await this.stopChild(rec);
    // `rec.ended` guards against a second restart() racing this one.
    if (this.children.get(id) === rec && rec.ended && this.machineState() === 'running') {
      rec.restarts++;
      this.spawn(rec);
    }
  }

  /** Asks a child's session to reconnect now; false when it cannot (ended, stopping, one pending). */
  reconnect(id: string, reason: string): boolean {
    const rec = this.record(id);
    return this.forceReconnect(rec.spec.id, reason, false);
  }

  /** A child's status; undefined for an unknown or removed id. */
  status(id: string): ChildStatus | undefined {
    const rec = this.children.get(id);
    return rec ? statusOf(rec) : undefined;
  }

  /** The child's session handle, only while that child is ready. */
  handle<H>(id: string): H | undefined {
    const rec = this.children.get(id);
    if (rec?.state !== 'ready' || !rec.session) return undefined;
    // The handle is the connector's, of the type the caller names.
    return rec.session.getSnapshot().context.handle as H;
  }

  /**
   * Resolves when the child is in `state`. Rejects with `WARDEN_TIMEOUT` after `timeoutMs`
   * (default 5000, real time), naming the child, the awaited state and the state it is in.
   */
  waitFor(id: string, state: ChildState, options: { timeoutMs?: number } = {}): Promise<ChildStatus> {
    const rec = this.record(id);
    if (rec.state === state) return Promise.resolve(statusOf(rec));
    const timeoutMs = options.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const off = this.events.on('transition', (e) => {
        if (e.child !== id || e.to !== state) return;
        clearTimeout(timer);
        off();
        resolve(this.status(id) ?? statusOf(rec));
      });
      const timer = setTimeout(() => {
        off();
        const now = this.children.get(id);
        reject(
          new WardenError(
            'WARDEN_TIMEOUT',
            `Child '${id}' of supervisor '${this.path}' did not reach '${state}' within ${timeoutMs} ms; it is '${now ? now.state : 'removed'}'${now?.lastFailure ? ` (last failure: ${now.lastFailure.summary})` : ''}`,
            { details: { child: id, awaited: state, state: now?.state } },
          ),
        );
      }, timeoutMs);
    });
  }

  /** Listens to `transition`, `ready`, `down` or `failed`; returns a function that stops listening. */
  on<K extends keyof SupervisorEventMap>(
    event: K,
    listener: (payload: SupervisorEventMap[K]) => void,
  ): () => void {
    return this.events.on(event, listener);
  }

  /** A plain view of this supervisor and its whole tree. */
  getSnapshot(): SupervisorSnapshot {
    const report = this.actor.getSnapshot().context.report;
    return {
      id: this.id,
      state: this.machineState(),
      strategy: this.strategy,
      ...(report ? { report } : {}),
      children: [...this.children.values()].map((rec) => ({
        id: rec.spec.id,
        kind: rec.spec.kind,
        status: statusOf(rec),
        ...(rec.nested ? { supervisor: rec.nested.getSnapshot() } : {}),
      })),
    };
  }

  /**
   * Stops every child in reverse start order (each bounded by its `shutdownMs`) and the supervisor.
   * Rejects with `WARDEN_TIMEOUT` if that takes longer than `timeoutMs` (default 30000); the
   * remaining actors are then stopped at once, so nothing is left running either way.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<SupervisorOutput> {
    if (!this.started) {
      this.started = true;
      this.actor.start();
    }
    const ended = this.ended();
    // An ended supervisor just reports how it ended (XState warns about events to stopped actors).
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'STOP' });
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Reject first: forcing the stop settles `ended`, which must not win the race.
        reject(
          new WardenError(
            'WARDEN_TIMEOUT',
            `Supervisor '${this.path}' did not stop within ${timeoutMs} ms; its actors were stopped at once`,
          ),
        );
        this.forceStop();
      }, timeoutMs);
    });
    try {
      return await Promise.race([ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the supervisor's output once it has stopped or failed. */
  ended(): Promise<SupervisorOutput> {
    this.endedPromise ??= new Promise((resolve) => {
      const check = (): boolean => {
        const snap = this.actor.getSnapshot();
        if (snap.status === 'done' && snap.output) {
          resolve(snap.output);
          return true;
        }
        if (snap.status === 'stopped' || snap.status === 'error') {
          resolve({ status: 'stopped' });
          return true;
        }
        return false;
      };
      if (check()) return;
      const sub = this.actor.subscribe({
        next: () => {
          if (check()) sub.unsubscribe();
        },
        complete: () => check() || resolve({ status: 'stopped' }),
        error: () => resolve({ status: 'stopped' }),
      });
    });
    return this.endedPromise;
  }

  // ---- internals -------------------------------------------------------------------------

  private machineState(): SupervisorSnapshot['state'] {
    return this.actor.getSnapshot().value;
  }

  private record(id: string): ChildRecord {
    const rec = this.children.get(id);
    if (!rec)
      throw new WardenError('WARDEN_CHILD_NOT_FOUND', `Supervisor '${this.path}' has no child '${id}'`);
    return rec;
  }

  private addRecord(spec: ResolvedChildSpec): ChildRecord {
    if (this.children.has(spec.id)) {
      throw new WardenError(
        'WARDEN_CHILD_EXISTS',
        `Supervisor '${this.path}' already has a child '${spec.id}'; remove it first or pick another id`,
      );
    }
    const rec: ChildRecord = {
      spec,
      incarnation: 0,
      ref: undefined,
      session: undefined,
      nested: undefined,
      sub: undefined,
      state: 'connecting',
      attempt: 0,
      since: this.now(),
      lastFailure: undefined,
      nextRetryAt: undefined,
      restarts: 0,
      ended: true,
      stopRequested: false,
      reconnectFor: undefined,
      endWaiters: [],
    };
    this.children.set(spec.id, rec);
    return rec;
  }

  private spawn(rec: ChildRecord): void {
    const spec = rec.spec;
    rec.incarnation = (this.incarnations.get(spec.id) ?? 0) + 1;
    this.incarnations.set(spec.id, rec.incarnation);
    rec.ended = false;
    rec.stopRequested = false;
    rec.reconnectFor = undefined;
    const systemId = `${this.systemPath}/${spec.id}#${rec.incarnation}`;
    if (spec.kind === 'supervisor') {
      const nested = new Supervisor(
        { id: spec.id, strategy: spec.strategy, intensity: spec.intensity },
        spec.children,
        {
          actor: this.actor,
          path: this.path,
          systemPath: systemId,
          now: this.now,
          random: this.random,
          log: this.baseLog,
          bubble: this.events,
          scheduler: this.scheduler,
        },
      );
      rec.nested = nested;
      rec.session = undefined;
      rec.ref = nested.actor;
      const sup = this;
      // Method shorthand, not arrows in properties: no per-child function names to define.
      rec.sub = nested.actor.subscribe({
        next(snap) {
          sup.onChild(
            rec,
            nested.actor,
            NESTED_STATE[snap.value],
            rec.attempt,
            // A failed nested supervisor is a fatal child, and its report says why.
            snap.context.report,
            undefined,
            undefined,
            snap.status !== 'active',
          );
        },
        error(err: unknown) {
          sup.onChildError(rec, nested.actor, err);
        },
        complete() {
          sup.onChildGone(rec, nested.actor);
        },
      });
      nested.start();
      return;
    }
    const id = spec.id;
    const ref = createActor(sessionMachine, {
      parent: this.actor,
      id,
      systemId,
      input: {
        connector: spec.connector,
        retry: spec.retry,
        shutdownMs: spec.shutdownMs,
        now: this.now,
        random: this.random,
        firstAttempt: rec.attempt + 1,
        makeLog: childLogMaker(this.log, id),
        defer: this.scheduler?.defer,
      },
    });
    rec.ref = ref;
    rec.session = ref;
    rec.nested = undefined;
    rec.sub = ref.subscribe(new SessionWatch(this, rec, ref));
    ref.start();
  }

  /**
   * A snapshot of a child's current incarnation. `reconnectReason` is set when the session's
   * current attempt began on request: leaving `ready` that way is not going down.
   * @internal Called by the child's watcher.
   */
  onChild(
    rec: ChildRecord,
    ref: SessionActor | SupervisorActor,
    to: ChildState,
    attempt: number,
    reported: FailureReport | undefined,
    nextRetryAt: number | undefined,
    reconnectReason: string | undefined,
    ended: boolean,
  ): void {
    if (rec.ref !== ref) return; // a previous incarnation
    // A fresh incarnation starts without a failure of its own: keep the one that ended the last.
    const failure = reported ?? rec.lastFailure;
    const from = rec.state;
    const fromAttempt = rec.attempt;
    rec.nextRetryAt = nextRetryAt;
    if (to === from && attempt === fromAttempt && failure === rec.lastFailure) return;
    const newFailure = failure !== undefined && failure !== rec.lastFailure ? failure : undefined;
    rec.state = to;
    rec.attempt = attempt;
    rec.lastFailure = failure;
    rec.since = this.now();
    const child = rec.spec.id;
    if (to !== from) {
      if (newFailure) {
        if (this.log.isLevelEnabled('warn'))
          this.log.warn(
            { child, from, to, attempt, failure: newFailure },
            `${child}: ${from} → ${to}: ${newFailure.summary}`,
          );
      } else if (this.log.isLevelEnabled('info')) {
        // A new attempt on request says why it was asked for.
        const reason = attempt !== fromAttempt ? reconnectReason : undefined;
        if (reason !== undefined)
          this.log.info({ child, from, to, attempt, reason }, `${child}: ${from} → ${to} (${reason})`);
        else this.log.info({ child, from, to, attempt }, `${child}: ${from} → ${to}`);
      }
      if (this.events.has('transition') || this.parentBubble)
        this.emit('transition', { child, from, to, attempt, ...(newFailure ? { failure: newFailure } : {}) });
      if (to === 'ready') this.emit('ready', { child, attempt });
    }
    const down =
      to === 'fatal' ||
      (from === 'ready' &&
        to !== 'ready' &&
        to !== 'stopping' &&
        to !== 'stopped' &&
        reconnectReason === undefined);
    if (down && to !== from) {
      this.emit('down', { child, from, to, ...(failure ? { failure } : {}) });
      if (this.strategy !== 'one-for-one' && this.machineState() === 'running') {
        this.actor.send({ type: 'CHILD.DOWN', childId: child, ...(failure ? { report: failure } : {}) });
      }
    }
    if (to === 'fatal' && to !== from && failure) {
      this.log.error({ child, failure }, `${child} failed: ${failure.summary}`);
      this.emit('failed', { child, report: failure, ...(rec.nested ? { supervisor: true as const } : {}) });
    }
    if (ended) this.onChildGone(rec, ref);
  }

  /**
   * A child's actor errored (something the machine could not handle, e.g. a `random` or clock
   * that threw inside an action). It is a fatal child with a report saying why; the actors it had
   * spawned are stopped here, since XState leaves them running when their parent errors.
   * The supervisor machine handles the relayed `xstate.error.actor.*` (respawn by restart type).
   * @internal Called by the child's watcher.
   */
  onChildError(rec: ChildRecord, ref: SessionActor | SupervisorActor, err: unknown): void {
    if (rec.ref !== ref || rec.ended) return;
    if (rec.session === ref) {
      for (const orphan of Object.values(rec.session.getSnapshot().children)) {
        if (orphan) forceStop(orphan);
      }
    } else rec.nested?.forceStop();
    const report = createFailureReport({
      phase: 'run',
      kind: 'fatal',
      summary: `actor error: ${messageOf(err)}`,
      attempt: rec.attempt,
      at: this.now(),
    });
    this.onChild(rec, ref, 'fatal', rec.attempt, report, undefined, undefined, true);
  }

  /** @internal A child's incarnation ended (or was stopped from outside). */
  onChildGone(rec: ChildRecord, ref: SessionActor | SupervisorActor): void {
    if (rec.ref !== ref || rec.ended) return;
    rec.ended = true;
    rec.sub?.unsubscribe();
    const snap = ref.getSnapshot();
    if (snap.status === 'stopped' || snap.status === 'error') {
      // Stopped from outside (or errored): show it as ended, never as running.
      const to: ChildState = snap.status === 'error' ? 'fatal' : 'stopped';
      if (rec.state !== to) {
        const from = rec.state;
        rec.state = to;
        rec.since = this.now();
        this.emit('transition', { child: rec.spec.id, from, to, attempt: rec.attempt });
      }
    }
    const waiters = rec.endWaiters.splice(0);
    for (const w of waiters) w();
  }

  private shouldRespawn(childId: string, exit: ChildExit): boolean {
    const rec = this.children.get(childId);
    // Not the current incarnation's end (a stale event), or an end someone asked for.
    if (!rec?.ended || rec.stopRequested) return false;
    if (rec.spec.restart === 'permanent') return true;
    if (rec.spec.restart === 'temporary') return false;
    return exit.status === 'fatal' || exit.status === 'failed';
  }

  private respawn(childId: string): void {
    const rec = this.children.get(childId);
    if (rec?.ended) this.pendingSpawns.push({ rec, respawn: true });
  }

  /**
   * Spawns the children the machine asked for. Runs from the supervisor actor's observer, after the
   * machine's step: creating a machine actor inside an XState action makes XState warn (its initial
   * `context` is an `assign`), and a spawn the step made moot (the supervisor is now failing or
   * stopping, or the child was removed) is dropped here.
   */
  private spawnPending(): void {
    // In batches (a spawn may queue more): shift() per child would be quadratic for large trees.
    while (this.pendingSpawns.length > 0) {
      for (const pending of this.pendingSpawns.splice(0)) {
        // With a scheduler, thousands of children start in slices, not in one synchronous burst.
        if (this.scheduler) this.scheduler.submitBackground(spawnLater, this, pending);
        else this.spawnNow(pending);
      }
    }
  }

  /** @internal A spawn the machine asked for, unless something since made it moot. */
  spawnNow({ rec, respawn }: { rec: ChildRecord; respawn: boolean }): void {
    if (this.machineState() !== 'running' || this.children.get(rec.spec.id) !== rec || !rec.ended) return;
    if (respawn) {
      rec.restarts++;
      this.log.info({ child: rec.spec.id, restarts: rec.restarts }, `${rec.spec.id}: respawned`);
    }
    this.spawn(rec);
  }

  private siblingsOf(childId: string, strategy: Strategy): string[] {
    const ids = [...this.children.keys()];
    const at = ids.indexOf(childId);
    const picked =
      strategy === 'one-for-all'
        ? ids.filter((id) => id !== childId)
        : strategy === 'rest-for-one'
          ? ids.slice(at + 1)
          : [];
    return picked.filter((id) => !this.children.get(id)?.ended);
  }

  private forceReconnect(id: string, reason: string, counted = true): boolean {
    const rec = this.children.get(id);
    if (!rec || rec.ended || !rec.ref) return false;
    if (rec.nested) {
      // A nested supervisor restarts its whole subtree's sessions.
      let any = false;
      for (const childId of rec.nested.children.keys())
        any = rec.nested.forceReconnect(childId, reason) || any;
      if (counted) rec.restarts++;
      return any;
    }
    if (!rec.session) return false;
    const snap = rec.session.getSnapshot();
    if (
      snap.value !== 'connecting' &&
      snap.value !== 'initializing' &&
      snap.value !== 'ready' &&
      snap.value !== 'reconnecting'
    )
      return false;
    // One pending at a time: the last request has not been acted on while its attempt is current.
    if (rec.reconnectFor === snap.context.attempt) return false;
    rec.reconnectFor = snap.context.attempt;
    if (counted) rec.restarts++;
    rec.session.send({ type: 'RECONNECT', reason });
    return true;
  }

  private stopChild(rec: ChildRecord): Promise<void> {
    if (rec.ended || !rec.ref) return Promise.resolve();
    const ref = rec.ref;
    rec.stopRequested = true;
    return new Promise<void>((resolve) => {
      // The session bounds close() by shutdownMs itself; the margin covers a machine that cannot.
      const timer = setTimeout(() => {
        this.log.warn(
          { child: rec.spec.id },
          `${rec.spec.id}: did not stop within ${rec.spec.shutdownMs} ms; stopped at once`,
        );
        if (rec.nested) rec.nested.forceStop();
        else forceStop(ref);
        this.onChildGone(rec, ref);
      }, rec.spec.shutdownMs + 100);
      rec.endWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (rec.nested) {
        // On timeout the nested supervisor has already stopped its actors at once; log, don't throw.
        rec.nested.stop({ timeoutMs: rec.spec.shutdownMs }).catch((err: unknown) => {
          this.log.warn({ child: rec.spec.id, err: messageOf(err) }, `${rec.spec.id}: ${messageOf(err)}`);
        });
      } else ref.send({ type: 'STOP' });
    });
  }

  private async stopAllChildren(): Promise<void> {
    const recs = [...this.children.values()].reverse();
    for (const rec of recs) await this.stopChild(rec);
  }

  private onSelfDone(output: SupervisorOutput): void {
    if (output.status === 'failed' && output.report) {
      this.log.error({ report: output.report }, `supervisor ${this.path} failed: ${output.report.summary}`);
      this.emit('failed', { child: this.id, report: output.report, supervisor: true });
    }
  }

  private emit<K extends keyof SupervisorEventMap>(event: K, payload: SupervisorEventMap[K]): void {
    this.events.emit(event, payload);
    if (this.parentBubble) {
      const p = payload as { child: string };
      // The supervisor's own failure is not bubbled: its parent reports it as the failure of its
      // child of that id (with `supervisor: true`), with the same report.
      if (p.child === this.id && event === 'failed') return;
      this.parentBubble.emit(event, { ...payload, child: `${this.id}/${p.child}` });
    }
  }

  /**
   * Stops this supervisor's actors at once, without waiting for any close(): children first
   * (nested supervisors recursively), then its own actor.
   */
  private forceStop(): void {
    for (const rec of [...this.children.values()].reverse()) {
      if (rec.nested) rec.nested.forceStop();
      else if (rec.ref && !rec.ended) forceStop(rec.ref);
    }
    forceStop(this.actor);
  }
}

/** Watches one incarnation of a session child: one object per child rather than three closures. */
class SessionWatch {
  constructor(
    private readonly sup: Supervisor,
    private readonly rec: ChildRecord,
    private readonly ref: SessionActor,
  ) {}

  next(snap: SnapshotFrom<SessionActor>): void {
    const c = snap.context;
    this.sup.onChild(
      this.rec,
      this.ref,
      snap.value,
      c.attempt,
      c.lastFailure,
      c.nextRetryAt,
      c.reconnectReason,
      snap.status !== 'active',
    );
  }

  error(err: unknown): void {
    this.sup.onChildError(this.rec, this.ref, err);
  }

  complete(): void {
    this.sup.onChildGone(this.rec, this.ref);
  }
}

function spawnLater(sup: Supervisor, pending: { rec: ChildRecord; respawn: boolean }): void {
  sup.spawnNow(pending);
}

/** The `makeLog` of a child's sessions: a child logger per attempt, made only when one is used. */
function childLogMaker(log: Logger, child: string): (attempt: number) => Logger {
  return (attempt) => log.child({ child, attempt });
}

/**
 * Creates a supervisor. Call `start()` to start it and its children.
 *
 * @example
 * ```ts
 * const sup = createSupervisor({
 *   id: 'plant',
 *   strategy: 'rest-for-one',
 *   children: [
 *     { id: 'driver', connector: modbus.create({ host: '10.0.0.5' }), restart: 'permanent' },
 *     { id: 'plugin', connector: mqttBridge },
 *   ],
 * }).start();
 * await sup.waitFor('driver', 'ready', { timeoutMs: 10_000 });
 * sup.on('down', ({ child, failure }) => alert(child, failure?.summary));
 * ```
 */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  return new Supervisor(options, options.children ?? []);
}
