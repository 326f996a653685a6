import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import type { Connector, RunOutcome, Session, SessionContext } from '../core/connector.js';
import { isSession } from '../core/connector.js';
import { messageOf, WardenError } from '../core/errors.js';
import { createFailureReport, type FailurePhase, type FailureReport } from '../core/failure.js';

/** What the attempts of one session need: the connector, a clock and a way to make loggers. */
export interface AttemptInput {
  readonly connector: Connector<unknown>;
  readonly now: () => number;
  /** Makes an attempt's logger on first use, so attempts nobody logs from cost nothing. */
  readonly makeLog: (attempt: number) => Logger;
}

/** Events the attempt actor sends to its session machine, each about the current attempt. */
export type AttemptEvent =
  | { type: 'ATTEMPT.CONNECTED' }
  | { type: 'ATTEMPT.INITIALIZED'; handle: unknown }
  | { type: 'ATTEMPT.RUN_ENDED'; outcome: RunOutcome }
  | { type: 'ATTEMPT.FAILED'; report: FailureReport }
  | { type: 'ATTEMPT.RECONNECT'; reason: string }
  | { type: 'ATTEMPT.CLOSED' };

/**
 * Commands the session machine sends to its attempt actor.
 * - `START`: abandons the current attempt, if any, and starts attempt number `attempt`;
 * - `ABANDON`: aborts the current attempt and closes its session (the machine waits for a retry);
 * - `CLOSE`: as `ABANDON`, then answers `ATTEMPT.CLOSED` once every close() of every attempt has
 *   settled (a session left earlier may still be closing).
 */
export type AttemptCommand = { type: 'START'; attempt: number } | { type: 'ABANDON' } | { type: 'CLOSE' };

const done = Promise.resolve();

/**
 * Classifies an error through the connector. A connector whose `classifyError`, `errorSummary` or
 * `errorCode` throws cannot crash the machine: its error becomes a fatal report.
 */
export function classify(
  connector: Connector<unknown>,
  phase: FailurePhase,
  err: unknown,
  attempt: number,
  at: number,
): FailureReport {
  if (err instanceof WardenError && err.code === 'WARDEN_INVALID_SESSION') {
    // warden's verdict on the connector itself: not the connector's to classify, summarise or code.
    return createFailureReport({ phase, kind: 'fatal', summary: err.message, code: err.code, attempt, at });
  }
  try {
    const kind = connector.classifyError(phase, err);
    const summary = connector.errorSummary ? connector.errorSummary(err) : messageOf(err);
    // A connector without a code for this error keeps a warden error's own code.
    const code = connector.errorCode?.(err) ?? (err instanceof WardenError ? err.code : undefined);
    if (kind !== 'retryable' && kind !== 'fatal' && kind !== 'stop') {
      return createFailureReport({
        phase,
        kind: 'fatal',
        summary: `classifyError returned ${String(kind)} for: ${messageOf(err)}`,
        attempt,
        at,
      });
    }
    return createFailureReport({ phase, kind, summary, code, attempt, at });
  } catch (classifyErr) {
    return createFailureReport({
      phase,
      kind: 'fatal',
      summary: `the connector failed to classify an error (${messageOf(classifyErr)}): ${messageOf(err)}`,
      attempt,
      at,
    });
  }
}

/**
 * One attempt: its signal, its session and its context. Once abandoned (aborted) it sends nothing
 * more, so the machine never hears from an attempt it has left.
 */
class Attempt {
  readonly controller = new AbortController();
  readonly ctx: SessionContext;
  session: Session<unknown> | undefined = undefined;
  closing: Promise<void> | undefined = undefined;
  closeWanted = false;
  ready = false;
  // Set by the first accepted request. The signal is aborted only once the machine acts on the
  // request; while the machine is busy (a call from a listener that runs inside its step) the
  // request waits in its mailbox, and this is what makes a second call return false meanwhile.
  reconnectRequested = false;

  constructor(
    readonly attempt: number,
    private readonly input: AttemptInput,
    private readonly sendBack: (event: AttemptEvent) => void,
    private readonly onClosing: (closing: Promise<void>) => void,
  ) {
    const signal = this.controller.signal;
    let log: Logger | undefined;
    this.ctx = {
      signal,
      attempt,
      get log() {
        log ??= input.makeLog(attempt);
        return log;
      },
      reconnect: {
        tryRequestReconnect: (reason: string): boolean => {
          if (signal.aborted || !this.ready || this.reconnectRequested) return false;
          this.reconnectRequested = true;
          sendBack({ type: 'ATTEMPT.RECONNECT', reason });
          return true;
        },
      },
      fatal: (phase, summary, code) =>
        createFailureReport({ phase, kind: 'fatal', summary, code, attempt, at: input.now() }),
    };
  }

  /** Aborts the attempt and closes its session, once; resolves when that close() has settled. */
  abandon(): Promise<void> {
    this.controller.abort();
    this.closeWanted = true;
    if (this.closing) return this.closing;
    if (!this.session) return done;
    const s = this.session;
    this.closing = (async () => {
      try {
        await s.close?.();
      } catch (err) {
        this.ctx.log.warn({ err: messageOf(err) }, 'session close failed');
      }
    })();
    this.onClosing(this.closing);
    return this.closing;
  }

  async drive(): Promise<void> {
    const { connector, now } = this.input;
    const { ctx, attempt } = this;
    const signal = this.controller.signal;
    let phase: FailurePhase = 'connect';
    try {
      const candidate: unknown = await connector.connect(ctx);
      if (!isSession(candidate)) {
        throw new WardenError(
          'WARDEN_INVALID_SESSION',
          'connect() resolved to something that is not a session (an object with init() and run()); fix the connector',
        );
      }
      this.session = candidate;
      if (this.closeWanted) {
        // Abandoned while connecting: the late session must still be released.
        void this.abandon();
        return;
      }
      this.sendBack({ type: 'ATTEMPT.CONNECTED' });
      phase = 'init';
      await candidate.init(ctx);
      if (signal.aborted) return;
      this.ready = true;
      this.sendBack({ type: 'ATTEMPT.INITIALIZED', handle: candidate.handle });
      phase = 'run';
      const outcome = await candidate.run(ctx);
      if (signal.aborted) return;
      this.sendBack({ type: 'ATTEMPT.RUN_ENDED', outcome });
    } catch (err) {
      if (signal.aborted) return;
      this.sendBack({ type: 'ATTEMPT.FAILED', report: classify(connector, phase, err, attempt, now()) });
    }
  }
}

/**
 * The attempts of one session, for the session machine's whole life: on `START` it drives one
 * attempt (connect, init and run from one place, each result sent back as an event), and it
 * abandons the attempt on `ABANDON`, `CLOSE`, the next `START`, or when the machine stops it.
 * Abandoning aborts the attempt's signal and closes its session exactly once, including a session
 * that arrives after the attempt was abandoned.
 *
 * One actor per session, not one per attempt: besides costing an actor per reconnect, stopping an
 * actor makes XState scan every delayed event of the actor system, which for many sessions waiting
 * to retry at once (a reconnect storm) grows with the square of their number.
 */
export const attemptLogic = fromCallback<AttemptCommand, AttemptInput, AttemptEvent>(
  ({ input, sendBack, receive }) => {
    let current: Attempt | undefined;
    // Every close() started so far, chained: `CLOSE` answers once all of them have settled.
    let closes: Promise<void> = done;
    const onClosing = (closing: Promise<void>): void => {
      const before = closes;
      closes = before.then(() => closing);
    };

    receive((command) => {
      if (command.type === 'START') {
        void current?.abandon();
        current = new Attempt(command.attempt, input, sendBack, onClosing);
        void current.drive();
        return;
      }
      const closing = current ? current.abandon() : done;
      if (command.type === 'CLOSE') {
        // Read `closes` after this close settled: it may have been added just now.
        void closing.then(() => closes).then(() => sendBack({ type: 'ATTEMPT.CLOSED' }));
      }
    });

    return () => {
      void current?.abandon();
    };
  },
);
