import type { Logger } from 'pino';
import type {
  Actor,
  ActorOptions,
  AnyActorLogic,
  AnyActorRef,
  InspectionEvent,
  Observer,
  Subscription,
} from 'xstate';
import { z } from 'zod';
import type { FailureReport } from '../core/failure.js';
import type { RandomSource } from '../core/retry.js';
import type { SessionState, sessionMachine } from '../machines/session.js';
import type { Intensity, Strategy, supervisorMachine } from '../machines/supervisor.js';
import type { Supervisor } from './supervisor.js';
import type { Emitter, SupervisorEventMap } from './supervisor-events.js';
import type { SliceScheduler } from './supervisor-scheduler.js';
import {
  CHILD_ID_PATTERN,
  type ChildSpec,
  IntensitySchema,
  type ResolvedChildSpec,
  StrategySchema,
} from './supervisor-spec.js';

/** The XState actor of a supervisor: the supervisor machine. */
export type SupervisorActor = Actor<typeof supervisorMachine>;

/** @internal The XState actor of a session child. */
export type SessionActor = Actor<typeof sessionMachine>;

/** The XState clock interface (`setTimeout`/`clearTimeout`), e.g. a `SimulatedClock`. */
export type Clock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

/** The state of a child: its session machine's state (a nested supervisor maps onto the same names). */
export type ChildState = SessionState;

/** What `sup.status(id)` tells about one child. */
export interface ChildStatus {
  readonly state: ChildState;
  readonly attempt: number;
  /** When the child entered `state` (epoch ms, actor clock). */
  readonly since: number;
  readonly lastFailure?: FailureReport;
  /** When the pending retry fires, while `reconnecting`. */
  readonly nextRetryAt?: number;
  /** How often the supervisor respawned this child or forced it to reconnect. */
  readonly restarts: number;
}

/** A view of a supervisor and its whole tree, for dashboards and tests. */
export interface SupervisorSnapshot {
  readonly id: string;
  readonly state: 'idle' | 'running' | 'stopping' | 'failing' | 'stopped' | 'failed';
  readonly strategy: Strategy;
  readonly report?: FailureReport;
  readonly children: ReadonlyArray<{
    readonly id: string;
    readonly kind: 'session' | 'supervisor';
    readonly status: ChildStatus;
    readonly supervisor?: SupervisorSnapshot;
  }>;
}

/** Options of {@link createSupervisor}. */
export interface SupervisorOptions {
  readonly id: string;
  readonly strategy?: Strategy;
  readonly intensity?: Partial<Intensity>;
  readonly children?: readonly ChildSpec[];
  /** A pino logger; the default is silent. */
  readonly logger?: Logger;
  /** The XState clock for backoff and timers (`new SimulatedClock()` in tests). */
  readonly clock?: Clock;
  /** Any XState inspector, e.g. `createBrowserInspector().inspect`. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Random source in [0, 1) for backoff jitter. */
  readonly random?: RandomSource;
}

/** @internal What a supervisor keeps about one child, outside its machine's snapshot. */
export interface ChildRecord {
  spec: ResolvedChildSpec;
  incarnation: number;
  /** The current incarnation's actor: `session` or `nested.actor`. */
  ref: SessionActor | SupervisorActor | undefined;
  session: SessionActor | undefined;
  nested: Supervisor | undefined;
  sub: Subscription | undefined;
  state: ChildState;
  attempt: number;
  since: number;
  lastFailure: FailureReport | undefined;
  nextRetryAt: number | undefined;
  restarts: number;
  ended: boolean;
  /** The current incarnation is being stopped on purpose (remove, restart, stop): never respawn it. */
  stopRequested: boolean;
  /**
   * The attempt a `RECONNECT` was sent for. While the session's attempt is still this one, the
   * request waits in its mailbox (it was sent while the session was busy) and another would only
   * repeat it; once the machine acts on it, a new attempt starts and this no longer matches.
   */
  reconnectFor: number | undefined;
  endWaiters: Array<() => void>;
}

/** @internal What a nested supervisor gets from its parent. */
export interface Parent {
  readonly actor: SupervisorActor;
  readonly path: string;
  /** The nested supervisor's systemId, unique per incarnation; its children's systemIds start with it. */
  readonly systemPath: string;
  readonly now: () => number;
  readonly random: RandomSource;
  /** The root's logger, without bindings: each supervisor binds its own `supervisor` path once. */
  readonly log: Logger;
  readonly bubble: Emitter<SupervisorEventMap>;
  readonly scheduler: SliceScheduler | undefined;
}

/** @internal How a nested supervisor's state shows as a child state. */
export const NESTED_STATE: Record<SupervisorSnapshot['state'], ChildState> = {
  idle: 'connecting',
  running: 'ready',
  stopping: 'stopping',
  failing: 'stopping',
  stopped: 'stopped',
  failed: 'fatal',
};

/** @internal */
export const SupervisorOptionsSchema = z
  .object({
    id: z
      .string()
      .regex(
        CHILD_ID_PATTERN,
        'must start with a letter or digit and use only letters, digits, _ - . : (max 128)',
      ),
    strategy: StrategySchema.default('one-for-one'),
    intensity: IntensitySchema.default({ maxRestarts: 3, periodMs: 5000 }),
    // Only that it is an array: each spec is validated on its own (zod would copy a 10k-element array).
    children: z
      .custom<readonly unknown[]>((v) => Array.isArray(v), 'Invalid input: expected array')
      .optional(),
    logger: z.unknown().optional(),
    clock: z.unknown().optional(),
    inspect: z.unknown().optional(),
    random: z.function().optional(),
  })
  .strict();

/** @internal The public status of a child record. */
export function statusOf(rec: ChildRecord): ChildStatus {
  return {
    state: rec.state,
    attempt: rec.attempt,
    since: rec.since,
    restarts: rec.restarts,
    ...(rec.lastFailure ? { lastFailure: rec.lastFailure } : {}),
    ...(rec.nextRetryAt !== undefined && rec.state === 'reconnecting'
      ? { nextRetryAt: rec.nextRetryAt }
      : {}),
  };
}

/**
 * Stops an actor at once. Children here are created with `parent` (so their done and error events
 * reach the supervisor machine), and XState's public `stop()` throws for such actors; `_stop()` is
 * what XState's own `stopChild` calls.
 */
export function forceStop(ref: AnyActorRef): void {
  (ref as unknown as { _stop(): void })._stop();
}

/** @internal `clock.now()` when the clock has one (SimulatedClock), else `Date.now`. */
export function clockNow(clock: Clock | undefined): () => number {
  const c = clock as (Clock & { now?: () => number }) | undefined;
  return c && typeof c.now === 'function' ? () => (c.now as () => number)() : Date.now;
}
