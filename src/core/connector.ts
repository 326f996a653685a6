import type { Logger } from 'pino';
import type { z } from 'zod';
import type { FailureKind, FailurePhase, FailureReport } from './failure.js';
import { parseOptions } from './validate.js';

/**
 * A cheap reconnect request handle. `tryRequestReconnect` never waits: it returns `true` when the
 * request was taken and `false` when one is already pending (or the session is not ready).
 */
export interface ReconnectHandle {
  tryRequestReconnect(reason: string): boolean;
}

/** Everything a connector and its session get for one attempt. */
export interface SessionContext {
  /** Aborted when this attempt is abandoned (stop, reconnect, supervisor). */
  readonly signal: AbortSignal;
  readonly reconnect: ReconnectHandle;
  /** A pino child logger bound to `{ supervisor, child, attempt }`. */
  readonly log: Logger;
  /** 1, 2, 3 ... monotonic over the child's life. */
  readonly attempt: number;
  /** Builds a fatal failure report for this attempt, to return as `{ type: 'fatal', report }`. */
  fatal(phase: FailurePhase, summary: string, code?: string): FailureReport;
}

/** How a session's `run` ended. */
export type RunOutcome =
  | { readonly type: 'disconnected' }
  | { readonly type: 'reconnectRequested'; readonly reason: string }
  | { readonly type: 'fatal'; readonly report: FailureReport };

/** One connected session to an external system. */
export interface Session<H> {
  /** The data-plane handle: published while ready, retracted when ready is left. */
  readonly handle: H;
  /** Post-connect initialisation; its success defines "ready". */
  init(ctx: SessionContext): Promise<void>;
  /** Drives the session until it disconnects, asks to reconnect, or fails. */
  run(ctx: SessionContext): Promise<RunOutcome>;
  /** Releases resources; called exactly once whenever the session is left. */
  close?(): Promise<void>;
}

/** Knows how to open a {@link Session} to some external system and how to judge its errors. */
export interface Connector<H> {
  connect(ctx: SessionContext): Promise<Session<H>>;
  /** Classifies an error of a phase as retryable, fatal or stop. */
  classifyError(phase: FailurePhase, err: unknown): FailureKind;
  /** A summary for reports; the default is the error's message. */
  errorSummary?(err: unknown): string;
  /** A stable code for alerting. */
  errorCode?(err: unknown): string | undefined;
}

/** A connector factory built by {@link defineConnector}: validated options in, connector out. */
export interface ConnectorFactory<S extends z.ZodType, H> {
  readonly name: string;
  readonly options: S;
  /** Validates `options` (throws `WARDEN_INVALID_OPTIONS` naming the field) and builds the connector. */
  create(options: z.input<S>): Connector<H>;
}

/**
 * Defines a connector whose options are validated by a zod schema before `create` runs.
 * `create` must do no I/O: connecting is the session machine's job.
 *
 * @example
 * ```ts
 * const plc = defineConnector({
 *   name: 'plc',
 *   options: z.object({ host: z.string(), port: z.number().int() }),
 *   create: ({ host, port }) => ({
 *     connect: async (ctx) => openPlcSession(host, port, ctx.signal),
 *     classifyError: (_phase, err) => (isAuthError(err) ? 'fatal' : 'retryable'),
 *   }),
 * });
 * const connector = plc.create({ host: '127.0.0.1', port: 502 });
 * ```
 */
export function defineConnector<S extends z.ZodType, H>(definition: {
  name: string;
  options: S;
  create(options: z.output<S>): Connector<H>;
}): ConnectorFactory<S, H> {
  return {
    name: definition.name,
    options: definition.options,
    create(options) {
      const parsed = parseOptions(definition.options, options, `options of connector '${definition.name}'`);
      return definition.create(parsed);
    },
  };
}

/** True when `value` has the shape of a {@link Session}. */
export function isSession(value: unknown): value is Session<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s.init === 'function' &&
    typeof s.run === 'function' &&
    (s.close === undefined || typeof s.close === 'function')
  );
}
