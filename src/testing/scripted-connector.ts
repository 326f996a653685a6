import type { Connector, RunOutcome, Session, SessionContext } from '../core/connector.js';
import type { FailureKind, FailurePhase } from '../core/failure.js';

/**
 * The error a scripted step throws. The scripted connector's `classifyError` returns its `kind`
 * and `errorCode` returns its `code`, so a test decides the classification in the script.
 */
export class ScriptedError extends Error {
  /** How the scripted connector classifies this error. */
  readonly kind: FailureKind;
  /** The code the scripted connector reports for this error (`errorCode`). */
  readonly code: string | undefined;

  constructor(kind: FailureKind, message: string, code?: string) {
    super(message);
    this.name = 'ScriptedError';
    this.kind = kind;
    this.code = code;
  }
}

/**
 * A step that throws a {@link ScriptedError} of this kind. `sync: true` (connect only) throws
 * synchronously from `connect()` instead of returning a rejected promise.
 */
export interface FailStep {
  readonly fail: FailureKind;
  /** Default: `<phase> failed (<kind>) in attempt <n>`. */
  readonly message?: string;
  readonly code?: string;
  readonly sync?: boolean;
}

/**
 * What `connect` or `init` does:
 * - `'resolve'`: succeeds at once (after a microtask);
 * - `'hang'`: waits until the attempt's signal is aborted, then rejects with the signal's reason;
 * - `'resolveOnAbort'`: waits until the signal is aborted, then succeeds anyway (a late result
 *   that the session machine must still clean up);
 * - a {@link FailStep}: throws a {@link ScriptedError}.
 */
export type PhaseStep = 'resolve' | 'hang' | 'resolveOnAbort' | FailStep;

/** What `connect` does: a {@link PhaseStep}, or `'notASession'` (resolves to a value that is not a session). */
export type ConnectStep = PhaseStep | 'notASession';

/**
 * What `run` does:
 * - `'hang'`: runs until the signal is aborted, then rejects with the signal's reason;
 * - `'manual'`: like `'hang'`, but the test can end it with `connector.endRun(attempt, result)`;
 * - a {@link RunOutcome}: returns it;
 * - `{ fatal, code? }`: returns `{ type: 'fatal', report: ctx.fatal('run', fatal, code) }`;
 * - `{ requestReconnect, times? }`: calls `ctx.reconnect.tryRequestReconnect(reason)` `times` times
 *   (default 1, results recorded in `reconnectResults`), then runs until aborted;
 * - a {@link FailStep}: throws a {@link ScriptedError};
 * - a function: full control over `run`.
 */
export type RunStep =
  | 'hang'
  | 'manual'
  | RunOutcome
  | { readonly fatal: string; readonly code?: string }
  | { readonly requestReconnect: string; readonly times?: number }
  | FailStep
  | ((ctx: SessionContext) => RunOutcome | Promise<RunOutcome>);

/**
 * What `close` does: succeed, throw, never settle, or (`'manual'`) settle when the test calls
 * `connector.endClose(attempt)`.
 */
export type CloseStep = 'resolve' | 'throw' | 'hang' | 'manual';

/** The script of one attempt. Every phase defaults to success; `run` defaults to `'hang'`. */
export interface AttemptScript {
  readonly connect?: ConnectStep;
  readonly init?: PhaseStep;
  readonly run?: RunStep;
  readonly close?: CloseStep;
}

/**
 * A script: per attempt (index = `ctx.attempt - 1`, the last entry repeats for later attempts),
 * or a function of the attempt number.
 */
export type Script = readonly AttemptScript[] | ((attempt: number) => AttemptScript);

/** One line of a {@link Journal}: which connector did what in which attempt. */
export interface JournalEntry {
  readonly connector: string;
  readonly attempt: number;
  readonly event: 'connect' | 'init' | 'run' | 'abort' | 'close';
}

/** A shared, ordered log of what scripted connectors did, e.g. to assert the order of `close()` calls. */
export type Journal = JournalEntry[];

/** The default handle of a scripted session. */
export interface ScriptedHandle {
  readonly connector: string;
  readonly attempt: number;
}

/** What happened in one attempt of a scripted connector. */
export interface AttemptRecord<H> {
  /** `ctx.attempt` of this attempt. */
  readonly attempt: number;
  /** The phases whose function was called, in order (`connect` always). */
  readonly phases: readonly FailurePhase[];
  /** Whether the attempt's signal is aborted, read now. */
  readonly signalAborted: boolean;
  /** How often `close()` was called on this attempt's session. */
  readonly closeCalls: number;
  /** The results of the attempt's `tryRequestReconnect` calls made by a `requestReconnect` step. */
  readonly reconnectResults: readonly boolean[];
  /** The session context the connector got, e.g. to call `ctx.reconnect` from a test. */
  readonly context: SessionContext;
  /** The session `connect` made, if it made one. */
  readonly session: Session<H> | undefined;
}

/** Counts over all attempts of a scripted connector. */
export interface ScriptedTotals {
  readonly connects: number;
  readonly inits: number;
  readonly runs: number;
  readonly sessions: number;
  readonly closes: number;
}

/** A {@link Connector} that follows a {@link Script} and records what happened. */
export interface ScriptedConnector<H = ScriptedHandle> extends Connector<H> {
  /** The connector's name, used in journal entries and the default handle. */
  readonly name: string;
  /** Every attempt, in the order `connect` was called. */
  readonly attempts: readonly AttemptRecord<H>[];
  /** The latest attempt with this number, or undefined. */
  attempt(attempt: number): AttemptRecord<H> | undefined;
  /** `close()` calls in that attempt, or over all attempts when `attempt` is left out. */
  closeCalls(attempt?: number): number;
  /** Counts over all attempts. */
  readonly totals: ScriptedTotals;
  /**
   * Ends the `'manual'` run of the latest attempt with this number: returns the outcome, or throws
   * for a {@link FailStep}. False when no such run is pending.
   */
  endRun(attempt: number, result: RunOutcome | FailStep): boolean;
  /**
   * Lets the pending `'manual'` close of the latest attempt with this number succeed. False when no
   * such close is pending.
   */
  endClose(attempt: number): boolean;
}

/** Options of {@link createScriptedConnector}. */
export interface ScriptedConnectorOptions<H> {
  /** Name for journal entries and the default handle (default `'scripted'`). */
  readonly name?: string;
  /** Makes the handle of an attempt's session (default `{ connector: name, attempt }`). */
  readonly handle?: (attempt: number) => H;
  /** A shared journal to append to. */
  readonly journal?: Journal;
  /** How to classify an error that is not a {@link ScriptedError} (default `'retryable'`). */
  readonly classifyOther?: FailureKind;
}

class AttemptLog<H> implements AttemptRecord<H> {
  phases: FailurePhase[] = [];
  closeCalls = 0;
  reconnectResults: boolean[] = [];
  session: Session<H> | undefined;
  endRun: ((result: RunOutcome | FailStep) => void) | undefined;
  endClose: (() => void) | undefined;
  constructor(
    readonly attempt: number,
    readonly context: SessionContext,
  ) {}
  get signalAborted(): boolean {
    return this.context.signal.aborted;
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

async function hang(signal: AbortSignal): Promise<never> {
  await untilAborted(signal);
  throw signal.reason;
}

function failure(step: FailStep, phase: FailurePhase, attempt: number): ScriptedError {
  return new ScriptedError(
    step.fail,
    step.message ?? `${phase} failed (${step.fail}) in attempt ${attempt}`,
    step.code,
  );
}

async function phase(step: PhaseStep, name: FailurePhase, ctx: SessionContext): Promise<void> {
  if (step === 'resolve') return;
  if (step === 'hang') return hang(ctx.signal);
  if (step === 'resolveOnAbort') return untilAborted(ctx.signal);
  throw failure(step, name, ctx.attempt);
}

function stepFor(script: Script, attempt: number): AttemptScript {
  if (typeof script === 'function') return script(attempt);
  if (script.length === 0) return {};
  return script[Math.min(attempt, script.length) - 1] ?? {};
}

/**
 * Creates a connector that follows `script` and records every attempt.
 *
 * @example
 * ```ts
 * // Refused twice, then ready; the session disconnects once ready.
 * const connector = createScriptedConnector([
 *   { connect: { fail: 'retryable', message: 'ECONNREFUSED' } },
 *   { connect: { fail: 'retryable', message: 'ECONNREFUSED' } },
 *   { run: { type: 'disconnected' } },
 *   { run: 'hang' },
 * ]);
 * const sup = createSupervisor({ id: 'root', clock, children: [{ id: 'plc', connector }] }).start();
 * // ... drive the clock ...
 * expect(connector.attempts.map((a) => a.phases)).toEqual([['connect'], ['connect'], ['connect', 'init', 'run'], ...]);
 * expect(connector.closeCalls(3)).toBe(1);
 * ```
 */
export function createScriptedConnector<H = ScriptedHandle>(
  script: Script,
  options: ScriptedConnectorOptions<H> = {},
): ScriptedConnector<H> {
  const name = options.name ?? 'scripted';
  const journal = options.journal;
  const makeHandle =
    options.handle ?? ((attempt: number) => ({ connector: name, attempt }) as ScriptedHandle as H);
  const attempts: AttemptLog<H>[] = [];
  const totals = { connects: 0, inits: 0, runs: 0, sessions: 0, closes: 0 };
  const note = (attempt: number, event: JournalEntry['event']): void => {
    journal?.push({ connector: name, attempt, event });
  };

  const makeSession = (rec: AttemptLog<H>, steps: AttemptScript, ctx: SessionContext): Session<H> => {
    totals.sessions++;
    const session: Session<H> = {
      handle: makeHandle(ctx.attempt),
      async init(c) {
        totals.inits++;
        rec.phases.push('init');
        note(c.attempt, 'init');
        await phase(steps.init ?? 'resolve', 'init', c);
      },
      async run(c) {
        totals.runs++;
        rec.phases.push('run');
        note(c.attempt, 'run');
        return runStep(steps.run ?? 'hang', c, rec);
      },
      close() {
        totals.closes++;
        rec.closeCalls++;
        note(ctx.attempt, 'close');
        const step = steps.close ?? 'resolve';
        if (step === 'throw') return Promise.reject(new Error(`close failed in attempt ${ctx.attempt}`));
        if (step === 'hang') return new Promise<void>(() => {});
        if (step === 'manual') {
          return new Promise<void>((resolve) => {
            rec.endClose = resolve;
          });
        }
        return Promise.resolve();
      },
    };
    rec.session = session;
    return session;
  };

  const connector: ScriptedConnector<H> = {
    name,
    attempts,
    totals,
    attempt: (n) => attempts.findLast((a) => a.attempt === n),
    endRun(n, result) {
      const rec = attempts.findLast((a) => a.attempt === n);
      const end = rec?.endRun;
      if (!rec || !end) return false;
      rec.endRun = undefined;
      end(result);
      return true;
    },
    endClose(n) {
      const rec = attempts.findLast((a) => a.attempt === n);
      const end = rec?.endClose;
      if (!rec || !end) return false;
      rec.endClose = undefined;
      end();
      return true;
    },
    closeCalls: (n) =>
      n === undefined
        ? totals.closes
        : attempts.filter((a) => a.attempt === n).reduce((sum, a) => sum + a.closeCalls, 0),
    connect(ctx) {
      totals.connects++;
      const rec = new AttemptLog<H>(ctx.attempt, ctx);
      attempts.push(rec);
      rec.phases.push('connect');
      note(ctx.attempt, 'connect');
      ctx.signal.addEventListener('abort', () => note(ctx.attempt, 'abort'), { once: true });
      const steps = stepFor(script, ctx.attempt);
      const step = steps.connect ?? 'resolve';
      if (typeof step === 'object' && step.sync) throw failure(step, 'connect', ctx.attempt);
      if (step === 'notASession') return Promise.resolve({ handle: undefined } as unknown as Session<H>);
      return phase(step, 'connect', ctx).then(() => makeSession(rec, steps, ctx));
    },
    classifyError(_phase, err) {
      return err instanceof ScriptedError ? err.kind : (options.classifyOther ?? 'retryable');
    },
    errorCode(err) {
      return err instanceof ScriptedError ? err.code : undefined;
    },
  };
  return connector;
}

async function runStep<H>(step: RunStep, ctx: SessionContext, rec: AttemptLog<H>): Promise<RunOutcome> {
  if (step === 'hang') return hang(ctx.signal);
  if (step === 'manual') {
    return new Promise<RunOutcome>((resolve, reject) => {
      rec.endRun = (result) => {
        if ('fail' in result) reject(failure(result, 'run', ctx.attempt));
        else resolve(result);
      };
      void hang(ctx.signal).catch((reason: unknown) => {
        rec.endRun = undefined;
        reject(reason);
      });
    });
  }
  if (typeof step === 'function') return step(ctx);
  if ('type' in step) return step;
  if ('fatal' in step) return { type: 'fatal', report: ctx.fatal('run', step.fatal, step.code) };
  if ('requestReconnect' in step) {
    for (let i = 0; i < (step.times ?? 1); i++) {
      rec.reconnectResults.push(ctx.reconnect.tryRequestReconnect(step.requestReconnect));
    }
    return hang(ctx.signal);
  }
  throw failure(step, 'run', ctx.attempt);
}
