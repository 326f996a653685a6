import type { Observer, SimulatedClock, Subscription } from 'xstate';
import type { Supervisor, SupervisorSnapshot } from '../actors/supervisor.js';
import { messageOf, WardenError } from '../core/errors.js';
import type { SessionState } from '../machines/session.js';

/** Anything that has a current snapshot and can be observed: an XState actor. */
export interface ObservableActor<S> {
  getSnapshot(): S;
  subscribe(observer: Observer<S>): Subscription;
}

/** The part of a session snapshot the wait helpers read. */
export interface SessionSnapshotLike {
  readonly value: SessionState;
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly context: { readonly lastFailure?: { readonly summary: string } | undefined };
}

/** Options of the wait helpers. */
export interface WaitOptions {
  /** Real milliseconds to wait before rejecting with `WARDEN_TIMEOUT` (default 2000). */
  readonly timeoutMs?: number;
}

/**
 * Lets promise-based work settle: waits for the macrotask queue to turn `rounds` times, so every
 * microtask queued before (a scripted `connect` resolving, the event it sends) has run.
 * Use it after `clock.increment()` or `actor.send()` when a connector step is promise-based.
 */
export async function flush(rounds = 2): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Moves a `SimulatedClock` forward by `ms` (firing due delayed transitions), then {@link flush}es. */
export async function advance(clock: SimulatedClock, ms: number): Promise<void> {
  clock.increment(ms);
  await flush();
}

/**
 * Resolves with the first snapshot of `actor` that satisfies `predicate` (the current one
 * included). Rejects with `WARDEN_TIMEOUT` after `timeoutMs` of real time, or at once when the
 * actor has ended without satisfying it (it never will). `describe` names what is awaited.
 */
export function waitForSnapshot<S extends { readonly status: string }>(
  actor: ObservableActor<S>,
  predicate: (snapshot: S) => boolean,
  describe: (snapshot: S) => { awaited: string; current: string },
  options: WaitOptions = {},
): Promise<S> {
  const timeoutMs = options.timeoutMs ?? 2000;
  return new Promise<S>((resolve, reject) => {
    let sub: Subscription | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const fail = (snapshot: S, why: string): void => {
      const { awaited, current } = describe(snapshot);
      settle();
      reject(
        new WardenError('WARDEN_TIMEOUT', `Awaited ${awaited} but ${why}; it is ${current}`, {
          details: { awaited, current },
        }),
      );
    };
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      sub?.unsubscribe();
    };
    const check = (snapshot: S): void => {
      if (settled) return;
      if (predicate(snapshot)) {
        settle();
        resolve(snapshot);
      } else if (snapshot.status !== 'active') {
        fail(snapshot, 'the actor ended first');
      }
    };
    check(actor.getSnapshot());
    if (settled) return;
    timer = setTimeout(() => fail(actor.getSnapshot(), `${timeoutMs} ms passed`), timeoutMs);
    sub = actor.subscribe({
      next: check,
      error: (err) => fail(actor.getSnapshot(), `the actor errored (${messageOf(err)})`),
      complete: () => check(actor.getSnapshot()),
    });
    // subscribe() may have delivered nothing while the state was already reached in between.
    check(actor.getSnapshot());
  });
}

function describeSession(state: SessionState) {
  return (snap: SessionSnapshotLike) => ({
    awaited: `session state '${state}'`,
    current: `'${snap.value}'${snap.context.lastFailure ? ` (last failure: ${snap.context.lastFailure.summary})` : ''}`,
  });
}

/**
 * Resolves when a session actor is in `state`.
 *
 * @example
 * ```ts
 * const actor = createActor(sessionMachine, { clock, input: { connector, now: () => clock.now() } }).start();
 * await waitForSessionState(actor, 'ready', { timeoutMs: 1000 });
 * ```
 */
export function waitForSessionState<S extends SessionSnapshotLike>(
  actor: ObservableActor<S>,
  state: SessionState,
  options: WaitOptions = {},
): Promise<S> {
  return waitForSnapshot(actor, (snap) => snap.value === state, describeSession(state), options);
}

/** Resolves with the supervisor's snapshot once the supervisor machine is in `state`. */
export async function waitForSupervisorState(
  sup: Supervisor,
  state: SupervisorSnapshot['state'],
  options: WaitOptions = {},
): Promise<SupervisorSnapshot> {
  const actor: ObservableActor<{ value: unknown; status: string }> = sup.actor;
  await waitForSnapshot(
    actor,
    (snap) => snap.value === state,
    (snap) => ({ awaited: `supervisor '${sup.id}' in '${state}'`, current: `'${String(snap.value)}'` }),
    options,
  );
  return sup.getSnapshot();
}

/**
 * Resolves with a child's status once it is in `state` (a thin wrapper over `sup.waitFor`, with
 * the kit's default timeout).
 */
export function waitForChildState(
  sup: Supervisor,
  childId: string,
  state: SessionState,
  options: WaitOptions = {},
): ReturnType<Supervisor['waitFor']> {
  return sup.waitFor(childId, state, { timeoutMs: options.timeoutMs ?? 2000 });
}

/** What {@link recordStates} or {@link recordSnapshots} saw. */
export interface StateRecording<V> {
  /** Every distinct selected value in order, starting with the value when recording began. */
  readonly values: readonly V[];
  /** Stops recording. */
  stop(): void;
}

/**
 * Records every change of `select(snapshot)` of an actor (consecutive equal values are kept once).
 * Call it before `actor.start()` to see the initial state as the first entry.
 *
 * @example
 * ```ts
 * const rec = recordSnapshots(actor, (s) => `${s.value}#${s.context.attempt}`);
 * actor.start();
 * // ...
 * expect(rec.values).toEqual(['connecting#1', 'reconnecting#1', 'connecting#2']);
 * ```
 */
export function recordSnapshots<S, V>(
  actor: ObservableActor<S>,
  select: (snapshot: S) => V,
): StateRecording<V> {
  const values: V[] = [select(actor.getSnapshot())];
  const sub = actor.subscribe({
    next: (snap) => {
      const value = select(snap);
      if (values[values.length - 1] !== value) values.push(value);
    },
    error: () => {},
  });
  return { values, stop: () => sub.unsubscribe() };
}

/**
 * Records every change of `snapshot.value` of an actor; see {@link recordSnapshots}.
 *
 * @example
 * ```ts
 * const rec = recordStates(actor);
 * actor.start();
 * // ...
 * expect(rec.values).toEqual(['connecting', 'initializing', 'ready']);
 * ```
 */
export function recordStates<V>(actor: ObservableActor<{ readonly value: V }>): StateRecording<V> {
  return recordSnapshots(actor, (snap) => snap.value);
}
