/**
 * The one table of warden error codes. Every `WardenError` carries one of these codes; each is
 * documented in `docs/errors.md` and a test checks that every code is unique, used and documented.
 * A retired code is never reused: remove it from use, keep it here with `retired: true`.
 */
export const ErrorCodes = {
  WARDEN_INVALID_OPTIONS: 'Options, a config file or a spec failed validation.',
  WARDEN_INVALID_NAME: 'A namespace, component or endpoint name does not match ^[a-z0-9][a-z0-9_-]*$.',
  WARDEN_CHILD_EXISTS: 'A supervisor already has a child with this id.',
  WARDEN_CHILD_NOT_FOUND: 'A supervisor has no child with this id.',
  WARDEN_SUPERVISOR_NOT_RUNNING: 'The supervisor has not been started, or has stopped or failed.',
  WARDEN_TIMEOUT: 'A wait (waitFor, stop, drain) did not finish in time.',
  WARDEN_INVALID_SESSION: 'A connector returned something that is not a session.',
  WARDEN_ENDPOINT_EXISTS: 'An endpoint with the same path is already registered on this server.',
  WARDEN_ENDPOINT_NOT_FOUND: 'No endpoint is registered under the requested path.',
  WARDEN_INSTANCE_NOT_FOUND: 'The endpoint exists but not with the requested instance id.',
  WARDEN_ENDPOINT_DRAINING: 'The endpoint is being unregistered and accepts no new work.',
  WARDEN_SERVER_NOT_RUNNING: 'The transport server is not listening.',
  WARDEN_SERVER_START_FAILED: 'The transport server could not start (address in use, bad TLS material, ...).',
  WARDEN_CANCELLED: 'The caller cancelled the request.',
  WARDEN_DEADLINE_EXCEEDED: 'The request deadline passed before the response ended.',
  WARDEN_INVALID_REQUEST: "The request body failed the endpoint's schema.",
  WARDEN_MESSAGE_TOO_LARGE: 'A message is larger than the configured maximum size.',
  WARDEN_OVERLOADED: 'Too many requests in flight; try again later or elsewhere.',
  WARDEN_HANDLER_ERROR: 'The endpoint handler threw or its stream failed.',
  WARDEN_PROTOCOL_ERROR: 'A peer sent bytes that do not follow the wire protocol.',
  WARDEN_UNAUTHORIZED: 'The shared-secret token is missing or wrong.',
  WARDEN_CONNECTION_CLOSED: 'The connection closed before the response ended.',
  WARDEN_CONNECTION_FAILED: 'A connection to the peer could not be opened.',
  WARDEN_NO_RESPONDERS: 'NATS reported that nothing listens on the subject.',
  WARDEN_CLIENT_CLOSED: 'The client was closed; calls made through it are refused.',
  WARDEN_NO_INSTANCES: 'No live instance serves the endpoint.',
} as const;

/** A stable warden error code: one of the keys of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/**
 * The one error class warden throws or reports. `code` is stable across versions and meant for
 * programs (alerting, retries); `message` says what happened and what to do, for people.
 *
 * @example
 * ```ts
 * try { await sup.waitFor('plc', 'ready', { timeoutMs: 1000 }); }
 * catch (err) { if (isWardenError(err, 'WARDEN_TIMEOUT')) { ... } }
 * ```
 */
export class WardenError extends Error {
  /** The stable code, one of {@link ErrorCodes}. */
  readonly code: ErrorCode;
  /** Structured details (field paths, ids) for logs and programs. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.details = options?.details;
  }

  /** A plain `{ code, message }` for the wire: no stack, no cause, no server paths. */
  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** True when `err` is a {@link WardenError}, optionally with the given code. */
export function isWardenError(err: unknown, code?: ErrorCode): err is WardenError {
  return err instanceof WardenError && (code === undefined || err.code === code);
}

/** True when `code` is a known warden error code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** The message of any thrown value, for summaries and logs. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
