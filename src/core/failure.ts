/** The phase of a session in which a failure happened. */
export type FailurePhase = 'connect' | 'init' | 'run';

/**
 * How a failure is handled: `retryable` reconnects with backoff, `fatal` gives up with a report,
 * `stop` is a clean, intended end (never shown as a failure).
 */
export type FailureKind = 'retryable' | 'fatal' | 'stop';

/**
 * Why something failed. A report is never reduced to a bare state name: it travels to snapshots,
 * events, logs, the dashboard and `/health`.
 */
export interface FailureReport {
  readonly phase: FailurePhase;
  readonly kind: FailureKind;
  /** A human summary; by default the error's message. */
  readonly summary: string;
  /** A stable code for alerting (`disconnected`, a connector's own code, a warden code). */
  readonly code?: string;
  /** The attempt (1, 2, ...) during which the failure happened. */
  readonly attempt: number;
  /** Epoch milliseconds from the actor clock. */
  readonly at: number;
  /** True when the retry budget ran out and this report ended the session. */
  readonly exhausted?: boolean;
}

/** All failure phases, in lifecycle order. */
export const FAILURE_PHASES = ['connect', 'init', 'run'] as const satisfies readonly FailurePhase[];

/** Builds a {@link FailureReport}, leaving out `code` and `exhausted` when they are absent. */
export function createFailureReport(fields: {
  phase: FailurePhase;
  kind: FailureKind;
  summary: string;
  code?: string | undefined;
  attempt: number;
  at: number;
  exhausted?: boolean | undefined;
}): FailureReport {
  const report: {
    -readonly [K in keyof FailureReport]: FailureReport[K];
  } = {
    phase: fields.phase,
    kind: fields.kind,
    summary: fields.summary,
    attempt: fields.attempt,
    at: fields.at,
  };
  if (fields.code !== undefined) report.code = fields.code;
  if (fields.exhausted) report.exhausted = true;
  return report;
}
