/**
 * `warden/testing`: scripted connectors, await helpers and deterministic time for tests of
 * sessions and supervisors.
 *
 * ## Deterministic time with `SimulatedClock`
 *
 * Backoff waits and `shutdownMs` bounds are XState delayed transitions, so they run on the actor
 * system's clock. Give every actor the same `SimulatedClock` and never sleep for real:
 *
 * - a supervisor: `createSupervisor({ id, clock, random: seededRandom(1), children })`. The
 *   supervisor reads `clock.now()` for report times and passes it to its sessions.
 * - a bare session machine: `createActor(sessionMachine, { clock, input: { connector, now: () => clock.now(), random } })`
 *   (or {@link startTestSession}, which does exactly that). Without `now` the session would stamp
 *   reports and compute `resetAfterMs` with `Date.now` while its timers run on the simulated clock.
 * - `clock.increment(ms)` fires every delayed transition that is due, in order, synchronously.
 *   The connector's promises settle afterwards, so follow it with {@link flush}
 *   ({@link advance} does both).
 * - Jitter: pass `random: seededRandom(seed)` and compute the expected delays with a twin
 *   `seededRandom(seed)` and `backoffDelay`, or use `randomizationFactor: 0` for exact
 *   `initialIntervalMs × multiplier^(k−1)` delays.
 * - A supervisor with a user clock runs everything at once, as before. Without one it runs bursts
 *   of work (more than 64 spawns, timer callbacks or attempt completions in one turn of the event
 *   loop: starting or reconnecting thousands of sessions) in time slices of a few milliseconds,
 *   yielding to the event loop between them; `flush()` then covers only what fits in the first
 *   slices, so await states (`sup.waitFor`, {@link waitForChildState}) instead.
 * - Real-time bounds stay real: `sup.waitFor(..., { timeoutMs })`, `sup.stop({ timeoutMs })` and
 *   the wait helpers here use real timers, because they guard the test itself.
 *
 * @example
 * ```ts
 * import { SimulatedClock } from 'xstate';
 * import { createSupervisor } from 'warden';
 * import { advance, createScriptedConnector, flush, seededRandom } from 'warden/testing';
 *
 * const clock = new SimulatedClock();
 * const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }, {}]);
 * const sup = createSupervisor({
 *   id: 'root',
 *   clock,
 *   random: seededRandom(7),
 *   children: [{ id: 'db', connector, retry: { initialIntervalMs: 100, randomizationFactor: 0 } }],
 * }).start();
 * await flush();                       // attempt 1 fails
 * expect(sup.status('db')?.nextRetryAt).toBe(100);
 * await advance(clock, 100);           // the backoff elapses; attempt 2 connects
 * expect(sup.status('db')?.state).toBe('ready');
 * await sup.stop();
 * ```
 *
 * @packageDocumentation
 */

export {
  activeTimers,
  cleanupTestActors,
  createTestSupervisor,
  type LeakReport,
  type LeftRunning,
  startTestSession,
  type TestSession,
  type TestSessionOptions,
  unfinishedSupervisors,
  watchForLeaks,
} from './harness.js';
export { seededRandom } from './random.js';
export {
  type AttemptRecord,
  type AttemptScript,
  type CloseStep,
  type ConnectStep,
  createScriptedConnector,
  type FailStep,
  type Journal,
  type JournalEntry,
  type PhaseStep,
  type RunStep,
  type Script,
  type ScriptedConnector,
  type ScriptedConnectorOptions,
  ScriptedError,
  type ScriptedHandle,
  type ScriptedTotals,
} from './scripted-connector.js';
export {
  advance,
  flush,
  type ObservableActor,
  recordSnapshots,
  recordStates,
  type SessionSnapshotLike,
  type StateRecording,
  type WaitOptions,
  waitForChildState,
  waitForSessionState,
  waitForSnapshot,
  waitForSupervisorState,
} from './wait.js';
