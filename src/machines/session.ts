import { type Logger, pino } from 'pino';
import { assign, sendTo, setup, spawnChild, stopChild } from 'xstate';
import type { Connector, RunOutcome } from '../core/connector.js';
import { messageOf } from '../core/errors.js';
import { createFailureReport, type FailureReport } from '../core/failure.js';
import {
  DEFAULT_RETRY_POLICY,
  FRESH_BUDGET,
  type RandomSource,
  type RetryBudget,
  type RetryPolicy,
  recordFailure,
} from '../core/retry.js';
import { type AttemptEvent, attemptLogic, type Defer } from './attempt.js';

/**
 * The states of a session machine: `connecting → initializing → ready`, `reconnecting` between
 * attempts (the backoff wait), and the final `fatal` and `stopped`.
 * `stopping` is where `STOP` waits: the attempt's signal is aborted and the machine waits there for
 * `session.close()` (of the current session and of any earlier one still closing), at most
 * `shutdownMs` on the actor's clock, then ends in `stopped`.
 */
export type SessionState =
  | 'connecting'
  | 'initializing'
  | 'ready'
  | 'reconnecting'
  | 'stopping'
  | 'fatal'
  | 'stopped';

/** Input of the session machine. Only `connector` is required. */
export interface SessionInput {
  readonly connector: Connector<unknown>;
  readonly retry?: RetryPolicy;
  /** How long `STOP` waits for `session.close()` before ending anyway (default 5000). */
  readonly shutdownMs?: number;
  /** Clock reading in epoch ms; pass the same clock as the actor's (`SimulatedClock.now`). */
  readonly now?: () => number;
  /** Random source in [0, 1) for jitter (default `Math.random`). */
  readonly random?: RandomSource;
  /** Makes the logger of an attempt; called lazily, on first use of `ctx.log`. */
  readonly makeLog?: (attempt: number) => Logger;
  /** The first attempt's number (default 1); a respawned child continues its count. */
  readonly firstAttempt?: number;
  /**
   * Where the attempt's promise completions are handled (default: at once). A supervisor without a
   * user clock passes its scheduler's, which handles bursts of them in time slices.
   */
  readonly defer?: Defer | undefined;
}

/** The session machine's context. Read it from `actor.getSnapshot().context`. */
export interface SessionContextData {
  readonly connector: Connector<unknown>;
  readonly policy: RetryPolicy;
  readonly shutdownMs: number;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly makeLog: (attempt: number) => Logger;
  readonly defer: Defer | undefined;
  /** 1, 2, 3 ... monotonic over the session machine's life. */
  readonly attempt: number;
  readonly budget: RetryBudget;
  /** When the session last became ready, while the streak it belongs to lasts. */
  readonly readySince: number | undefined;
  readonly lastFailure: FailureReport | undefined;
  /** Delay of the pending retry, and when it fires. */
  readonly delayMs: number;
  readonly nextRetryAt: number | undefined;
  /** True when the budget ran out: `reconnecting` goes straight to `fatal`. */
  readonly exhausted: boolean;
  /**
   * The reason of the reconnect request (`RECONNECT`, `tryRequestReconnect` or a
   * `reconnectRequested` outcome) that ended the previous attempt; undefined for the first attempt
   * and after a failure. Set, it says that the current attempt began on request, not after a failure.
   */
  readonly reconnectReason: string | undefined;
  /** The session's handle, only while `ready`. */
  readonly handle: unknown;
}

/** Events the session machine accepts from outside. */
export type SessionCommand = { type: 'RECONNECT'; reason: string } | { type: 'STOP' };

/** Every event the session machine handles. */
export type SessionEvent =
  | SessionCommand
  | AttemptEvent
  | { type: `xstate.error.actor.${string}`; error?: unknown };

/** The session machine's output when it ends. */
export interface SessionOutput {
  readonly status: 'fatal' | 'stopped';
  readonly report?: FailureReport;
}

let silent: Logger | undefined;
const silentLog = (): Logger => {
  silent ??= pino({ level: 'silent' });
  return silent;
};

const ATTEMPT = 'attempt';

/**
 * The connector-session lifecycle:
 * `connecting → initializing → ready → reconnecting → connecting …`, ending in `fatal` or `stopped`.
 * Every side effect runs in the attempt actor (`runAttempt`, one for the machine's life, told to
 * `START` each attempt), which tests and users can replace with
 * `.provide({ actors: { runAttempt } })`. Backoff waits are delayed transitions on the actor's
 * clock, so `SimulatedClock` drives them.
 */
/** A failed attempt, in any phase, by its classification (see DESIGN.md, Session machine). */
const ON_FAILED = [
  { guard: 'isRetryable', target: 'reconnecting', actions: 'recordFailure' },
  { guard: 'isStop', target: 'stopped' },
  { target: 'fatal', actions: 'recordFinal' },
] as const;

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionContextData,
    events: {} as SessionEvent,
    output: {} as SessionOutput,
  },
  actors: { runAttempt: attemptLogic },
  delays: {
    retryDelay: ({ context }) => context.delayMs,
    shutdown: ({ context }) => context.shutdownMs,
  },
  guards: {
    exhausted: ({ context }) => context.exhausted,
    noDelay: ({ context }) => context.delayMs === 0,
    isRetryable: ({ event }) => event.type === 'ATTEMPT.FAILED' && event.report.kind === 'retryable',
    isStop: ({ event }) => event.type === 'ATTEMPT.FAILED' && event.report.kind === 'stop',
    isReconnectRequested: ({ event }) =>
      event.type === 'ATTEMPT.RUN_ENDED' && event.outcome.type === 'reconnectRequested',
    isFatalOutcome: ({ event }) => event.type === 'ATTEMPT.RUN_ENDED' && event.outcome.type === 'fatal',
  },
  actions: {
    /** The attempt actor, one for the machine's life: it runs each attempt it is told to start. */
    spawnAttempts: spawnChild('runAttempt', {
      id: ATTEMPT,
      input: ({ context }) => ({
        connector: context.connector,
        now: context.now,
        makeLog: context.makeLog,
        defer: context.defer,
      }),
    }),
    startAttempt: sendTo(ATTEMPT, ({ context }) => ({ type: 'START', attempt: context.attempt })),
    /** Aborts the current attempt and closes its session. */
    abandonAttempt: sendTo(ATTEMPT, { type: 'ABANDON' }),
    /** As `abandonAttempt`; the attempt actor answers `ATTEMPT.CLOSED` once every close() settled. */
    closeAttempt: sendTo(ATTEMPT, { type: 'CLOSE' }),
    /** Stops the attempt actor, which abandons the current attempt. */
    endAttempt: stopChild(ATTEMPT),
    nextAttempt: assign({ attempt: ({ context }) => context.attempt + 1, nextRetryAt: undefined }),
    publishHandle: assign({
      handle: ({ event }) => (event.type === 'ATTEMPT.INITIALIZED' ? event.handle : undefined),
      readySince: ({ context }) => context.now(),
    }),
    retractHandle: assign({ handle: undefined }),
    // Each action that leads to `reconnecting` also sets when the retry fires (for status()):
    // one context copy fewer per reconnect than a separate entry action.
    requestReconnect: assign({
      delayMs: 0,
      reconnectReason: ({ event }) => reasonOf(event),
      nextRetryAt: ({ context }) => context.now(),
    }),
    /** A retryable failure: count it against the budget and pick the delay. */
    recordFailure: assign(({ context, event }) => {
      const report = failureOf(event, context);
      const at = report.at;
      const decision = recordFailure(context.policy, context.budget, at, context.readySince, context.random);
      return {
        lastFailure: decision.retry ? report : { ...report, kind: 'fatal' as const, exhausted: true },
        budget: decision.budget,
        readySince: undefined,
        delayMs: decision.retry ? decision.delayMs : 0,
        nextRetryAt: context.now() + (decision.retry ? decision.delayMs : 0),
        exhausted: !decision.retry,
        reconnectReason: undefined,
      };
    }),
    recordActorError: assign({
      lastFailure: ({ context, event }) =>
        createFailureReport({
          phase: 'run',
          kind: 'fatal',
          summary: `attempt actor error: ${event.type.startsWith('xstate.error.actor.') ? messageOf((event as { error?: unknown }).error) : event.type}`,
          attempt: context.attempt,
          at: context.now(),
        }),
    }),
    recordFinal: assign({ lastFailure: ({ context, event }) => failureOf(event, context) }),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    connector: input.connector,
    policy: input.retry ?? DEFAULT_RETRY_POLICY,
    shutdownMs: input.shutdownMs ?? 5000,
    now: input.now ?? Date.now,
    random: input.random ?? Math.random,
    makeLog: input.makeLog ?? silentLog,
    defer: input.defer,
    attempt: input.firstAttempt ?? 1,
    budget: FRESH_BUDGET,
    readySince: undefined,
    lastFailure: undefined,
    delayMs: 0,
    nextRetryAt: undefined,
    exhausted: false,
    reconnectReason: undefined,
    handle: undefined,
  }),
  initial: 'connecting',
  entry: 'spawnAttempts',
  on: {
    // The attempt actor catches everything it runs; should it still error, that is a fatal failure.
    'xstate.error.actor.*': { target: '.fatal', actions: 'recordActorError' },
  },
  states: {
    connecting: {
      entry: 'startAttempt',
      on: {
        'ATTEMPT.CONNECTED': 'initializing',
        'ATTEMPT.FAILED': ON_FAILED,
        RECONNECT: { target: 'reconnecting', actions: 'requestReconnect' },
        STOP: 'stopping',
      },
    },
    initializing: {
      on: {
        'ATTEMPT.INITIALIZED': { target: 'ready', actions: 'publishHandle' },
        'ATTEMPT.FAILED': ON_FAILED,
        RECONNECT: { target: 'reconnecting', actions: 'requestReconnect' },
        STOP: 'stopping',
      },
    },
    ready: {
      exit: 'retractHandle',
      on: {
        'ATTEMPT.RUN_ENDED': [
          {
            guard: 'isReconnectRequested',
            target: 'reconnecting',
            actions: 'requestReconnect',
          },
          { guard: 'isFatalOutcome', target: 'fatal', actions: 'recordFinal' },
          { target: 'reconnecting', actions: 'recordFailure' },
        ],
        'ATTEMPT.FAILED': ON_FAILED,
        'ATTEMPT.RECONNECT': { target: 'reconnecting', actions: 'requestReconnect' },
        RECONNECT: { target: 'reconnecting', actions: 'requestReconnect' },
        STOP: 'stopping',
      },
    },
    reconnecting: {
      entry: 'abandonAttempt',
      always: [
        { guard: 'exhausted', target: 'fatal' },
        { guard: 'noDelay', target: 'connecting', actions: 'nextAttempt' },
      ],
      after: { retryDelay: { target: 'connecting', actions: 'nextAttempt' } },
      on: {
        // A reconnect request during the backoff wait skips the rest of the wait.
        RECONNECT: { target: 'connecting', actions: ['requestReconnect', 'nextAttempt'] },
        // The session left may still be closing: wait for it like any other.
        STOP: 'stopping',
      },
      // nextRetryAt is for status().
      exit: assign({ nextRetryAt: undefined }),
    },
    stopping: {
      // The session left for a retry or a reconnect may still be closing: CLOSE waits for it too.
      entry: 'closeAttempt',
      on: { 'ATTEMPT.CLOSED': 'stopped' },
      after: { shutdown: 'stopped' },
    },
    fatal: {
      type: 'final',
      entry: 'endAttempt',
      output: ({ context }): SessionOutput =>
        context.lastFailure ? { status: 'fatal', report: context.lastFailure } : { status: 'fatal' },
    },
    stopped: { type: 'final', entry: 'endAttempt', output: (): SessionOutput => ({ status: 'stopped' }) },
  },
  output: ({ event }) => event.output as SessionOutput,
});

function reasonOf(event: SessionEvent): string {
  if (event.type === 'RECONNECT' || event.type === 'ATTEMPT.RECONNECT') return event.reason;
  if (event.type === 'ATTEMPT.RUN_ENDED' && event.outcome.type === 'reconnectRequested') {
    return event.outcome.reason;
  }
  return event.type;
}

function failureOf(event: SessionEvent, context: SessionContextData): FailureReport {
  const at = context.now();
  if (event.type === 'ATTEMPT.FAILED') return event.report;
  if (event.type === 'ATTEMPT.RUN_ENDED') {
    const outcome: RunOutcome = event.outcome;
    if (outcome.type === 'fatal') return { ...outcome.report, kind: 'fatal' };
    return createFailureReport({
      phase: 'run',
      kind: 'retryable',
      summary: 'the session disconnected',
      code: 'disconnected',
      attempt: context.attempt,
      at,
    });
  }
  return createFailureReport({
    phase: 'run',
    kind: 'fatal',
    summary: event.type,
    attempt: context.attempt,
    at,
  });
}
