import { type Actor, createActor, SimulatedClock } from 'xstate';
import { createSupervisor, type Supervisor, type SupervisorOptions } from '../actors/supervisor.js';
import type { Connector } from '../core/connector.js';
import { type RandomSource, type RetryPolicyInput, resolveRetryPolicy } from '../core/retry.js';
import { type SessionState, sessionMachine } from '../machines/session.js';
import { recordSnapshots, recordStates } from './wait.js';

/** Options of {@link startTestSession}. */
export interface TestSessionOptions {
  /** Retry policy fields; validated like a child spec's `retry`. */
  readonly retry?: RetryPolicyInput;
  /** A clock to share; default a fresh `SimulatedClock` at time 0. */
  readonly clock?: SimulatedClock;
  /** Random source for jitter; default `() => 0.5` (no jitter whatever the factor). */
  readonly random?: RandomSource;
  readonly shutdownMs?: number;
  readonly firstAttempt?: number;
  /** Start the actor at once (default true). */
  readonly start?: boolean;
}

/** A session actor on a `SimulatedClock`, with the states it went through. */
export interface TestSession {
  readonly actor: Actor<typeof sessionMachine>;
  readonly clock: SimulatedClock;
  /** Every distinct state the session was in, from `connecting` on. */
  readonly states: readonly SessionState[];
  /** Every distinct `state#attempt`, e.g. `['connecting#1', 'connecting#2']` after a reconnect request. */
  readonly trace: readonly string[];
}

/**
 * Creates (and by default starts) a session machine actor for `connector` on a `SimulatedClock`,
 * with the clock's `now` as the session's time and its states recorded.
 *
 * @example
 * ```ts
 * const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }, {}]);
 * const s = startTestSession(connector, { retry: { initialIntervalMs: 100, randomizationFactor: 0 } });
 * await flush();
 * await advance(s.clock, 100);
 * expect(s.states).toEqual(['connecting', 'reconnecting', 'connecting', 'initializing', 'ready']);
 * ```
 */
export function startTestSession(
  connector: Connector<unknown>,
  options: TestSessionOptions = {},
): TestSession {
  const clock = options.clock ?? new SimulatedClock();
  const actor = createActor(sessionMachine, {
    clock,
    input: {
      connector,
      retry: resolveRetryPolicy(options.retry),
      now: () => clock.now(),
      random: options.random ?? (() => 0.5),
      ...(options.shutdownMs !== undefined ? { shutdownMs: options.shutdownMs } : {}),
      ...(options.firstAttempt !== undefined ? { firstAttempt: options.firstAttempt } : {}),
    },
  });
  sessions.add(actor);
  // The first snapshot an observer gets is the one of start().
  const started = actor.subscribe({
    next: () => {
      startedSessions.add(actor);
      started.unsubscribe();
    },
    error: () => {},
  });
  const recording = recordStates<SessionState>(actor);
  const trace = recordSnapshots(actor, (snap) => `${snap.value}#${snap.context.attempt}`);
  if (options.start !== false) actor.start();
  return {
    actor,
    clock,
    states: recording.values,
    trace: trace.values,
  };
}

const tracked = new Set<Supervisor>();
const sessions = new Set<Actor<typeof sessionMachine>>();
/** Sessions whose actor was started: one made with `start: false` runs only once the test starts it. */
const startedSessions = new WeakSet<Actor<typeof sessionMachine>>();
/** What every {@link cleanupTestActors} call so far had to stop, for {@link watchForLeaks}. */
const leftBehind: { supervisors: string[]; sessions: number } = { supervisors: [], sessions: 0 };

/**
 * `createSupervisor`, remembered so that {@link unfinishedSupervisors} and {@link watchForLeaks}
 * can tell which supervisors a test left running, and {@link cleanupTestActors} can stop them.
 */
export function createTestSupervisor(options: SupervisorOptions): Supervisor {
  const sup = createSupervisor(options);
  tracked.add(sup);
  return sup;
}

/** Started and not ended: `idle` (never started) does not count, `stopping` still does. */
function isRunning(sup: Supervisor): boolean {
  return sup.actor.getSnapshot().status === 'active' && sup.getSnapshot().state !== 'idle';
}

/** Ids of supervisors made by {@link createTestSupervisor} that were started and have not ended. */
export function unfinishedSupervisors(): string[] {
  const ids: string[] = [];
  for (const sup of tracked) {
    if (isRunning(sup)) ids.push(sup.id);
    else if (sup.actor.getSnapshot().status !== 'active') tracked.delete(sup);
  }
  return ids;
}

function unfinishedSessions(): number {
  let n = 0;
  for (const actor of sessions) {
    if (actor.getSnapshot().status !== 'active') sessions.delete(actor);
    else if (startedSessions.has(actor)) n++;
  }
  return n;
}

/** What {@link cleanupTestActors} found still running: what the test left behind. */
export interface LeftRunning {
  /** Ids of supervisors made by {@link createTestSupervisor} that were still running. */
  readonly supervisors: readonly string[];
  /** Session actors made by {@link startTestSession} that were still running. */
  readonly sessions: number;
}

/**
 * Stops every session made by {@link startTestSession} and every supervisor made by
 * {@link createTestSupervisor} that is still running (supervisors through `stop({ timeoutMs })`),
 * and reports what it had to stop: a test should stop what it started, so anything here was left
 * running. {@link watchForLeaks} counts it as leaked. Call it in `afterEach`.
 */
export async function cleanupTestActors(options: { timeoutMs?: number } = {}): Promise<LeftRunning> {
  const left: LeftRunning = { supervisors: unfinishedSupervisors(), sessions: unfinishedSessions() };
  leftBehind.supervisors.push(...left.supervisors);
  leftBehind.sessions += left.sessions;
  for (const actor of sessions) actor.stop();
  sessions.clear();
  for (const sup of tracked) {
    if (sup.actor.getSnapshot().status === 'active') {
      await sup.stop({ timeoutMs: options.timeoutMs ?? 1000 }).catch(() => {});
    }
  }
  tracked.clear();
  return left;
}

/** How many real timers (`setTimeout`/`setInterval`) the process holds now: 0 when nothing leaked. */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** What {@link watchForLeaks} found. */
export interface LeakReport {
  /** Real timers active now beyond those active when watching began. */
  readonly timers: number;
  /**
   * Ids of supervisors made by {@link createTestSupervisor} since watching began that a test left
   * running: stopped by {@link cleanupTestActors}, or running still.
   */
  readonly supervisors: readonly string[];
  /** Session actors made by {@link startTestSession} that a test left running, counted the same way. */
  readonly sessions: number;
}

/**
 * Starts watching for leaks: real timers, and supervisors and sessions a test left running (what
 * {@link cleanupTestActors} had to stop, and whatever still runs). Call it in `beforeAll` (so the
 * test runner's own hook timer is part of the baseline) and check in `afterAll`.
 *
 * @example
 * ```ts
 * let leaks: ReturnType<typeof watchForLeaks>;
 * beforeAll(() => { leaks = watchForLeaks(); });
 * afterEach(() => cleanupTestActors());
 * afterAll(() => { expect(leaks.check()).toEqual({ timers: 0, supervisors: [], sessions: 0 }); });
 * ```
 */
export function watchForLeaks(): { check(): LeakReport } {
  const baseline = activeTimers();
  const supervisorsBefore = leftBehind.supervisors.length;
  const sessionsBefore = leftBehind.sessions;
  return {
    check: () => ({
      timers: activeTimers() - baseline,
      supervisors: [...leftBehind.supervisors.slice(supervisorsBefore), ...unfinishedSupervisors()],
      sessions: leftBehind.sessions - sessionsBefore + unfinishedSessions(),
    }),
  };
}
