import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import type { Connector, Session, SessionContext } from '../core/connector.js';
import { isSession } from '../core/connector.js';
import { messageOf, WardenError } from '../core/errors.js';
import { createFailureReport, type FailurePhase, type FailureReport } from '../core/failure.js';

/** What one attempt needs: the connector, its number, a clock and a way to make its logger. */
export interface AttemptInput {
  readonly connector: Connector<unknown>;
  readonly attempt: number;
  readonly now: () => number;
  /** Makes the attempt's logger on first use, so attempts nobody logs from cost nothing. */
  readonly makeLog: (attempt: number) => Logger;
}

/** Events an attempt sends to its session machine. */
export type AttemptEvent =
  | { type: 'ATTEMPT.CONNECTED' }
  | { type: 'ATTEMPT.INITIALIZED'; handle: unknown }
  | { type: 'ATTEMPT.RUN_ENDED'; outcome: import('../core/connector.js').RunOutcome }
  | { type: 'ATTEMPT.FAILED'; report: FailureReport }
  | { type: 'ATTEMPT.RECONNECT'; reason: string }
  | { type: 'ATTEMPT.CLOSED' };

/** Commands the session machine sends to its attempt. */
export type AttemptCommand = { type: 'CLOSE' };

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
 * One attempt: connect, init and run driven from one place, each result sent back as an event.
 * Stopping the attempt (the machine leaves it, or the whole actor stops) aborts its signal and
 * closes its session exactly once, including a session that arrives after the attempt was abandoned.
 */
export const attemptLogic = fromCallback<AttemptCommand, AttemptInput, AttemptEvent>(
  ({ input, sendBack, receive }) => {
    const { connector, attempt, now } = input;
    const controller = new AbortController();
    const signal = controller.signal;
    let session: Session<unknown> | undefined;
    let closeWanted = false;
    let closing: Promise<void> | undefined;
    let ready = false;
    let reconnectTaken = false;
    let log: Logger | undefined;

    const closeSession = (): Promise<void> => {
      closeWanted = true;
      if (closing) return closing;
      if (!session) return done;
      const s = session;
      closing = (async () => {
        try {
          await s.close?.();
        } catch (err) {
          ctx.log.warn({ err: messageOf(err) }, 'session close failed');
        }
      })();
      return closing;
    };

    const ctx: SessionContext = {
      signal,
      attempt,
      get log() {
        log ??= input.makeLog(attempt);
        return log;
      },
      reconnect: {
        tryRequestReconnect(reason: string): boolean {
          if (signal.aborted || !ready || reconnectTaken) return false;
          reconnectTaken = true;
          sendBack({ type: 'ATTEMPT.RECONNECT', reason });
          return true;
        },
      },
      fatal(phase, summary, code) {
        return createFailureReport({ phase, kind: 'fatal', summary, code, attempt, at: now() });
      },
    };

    const drive = async (): Promise<void> => {
      let phase: FailurePhase = 'connect';
      try {
        const candidate: unknown = await connector.connect(ctx);
        if (!isSession(candidate)) {
          throw new WardenError(
            'WARDEN_INVALID_SESSION',
            'connect() resolved to something that is not a session (an object with init() and run()); fix the connector',
          );
        }
        session = candidate;
        if (closeWanted) {
          // Abandoned while connecting: the late session must still be released.
          void closeSession();
          return;
        }
        sendBack({ type: 'ATTEMPT.CONNECTED' });
        phase = 'init';
        await candidate.init(ctx);
        if (signal.aborted) return;
        ready = true;
        sendBack({ type: 'ATTEMPT.INITIALIZED', handle: candidate.handle });
        phase = 'run';
        const outcome = await candidate.run(ctx);
        if (signal.aborted) return;
        sendBack({ type: 'ATTEMPT.RUN_ENDED', outcome });
      } catch (err) {
        if (signal.aborted) return;
        sendBack({ type: 'ATTEMPT.FAILED', report: classify(connector, phase, err, attempt, now()) });
      }
    };
    void drive();

    receive((command) => {
      if (command.type === 'CLOSE') {
        controller.abort();
        void closeSession().then(() => sendBack({ type: 'ATTEMPT.CLOSED' }));
      }
    });

    return () => {
      controller.abort();
      void closeSession();
    };
  },
);
