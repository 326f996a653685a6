/**
 * The NATS wire format of the request plane: subjects, header names, message types and the helpers
 * that read and write them. `docs/protocol/nats.md` describes the same format for other clients.
 */
import { isErrorCode, WardenError } from '../../core/errors.js';
import type { WireError } from '../../core/request-plane.js';

/** Header names warden sets on NATS messages. User headers never start with `Warden-`. */
export const NatsHeader = {
  /** Request: the request id (any string without CR/LF). */
  requestId: 'Warden-Request-Id',
  /** Request: milliseconds the caller still waits, measured when it published (relative, so no clock sync is needed). */
  timeoutMs: 'Warden-Timeout-Ms',
  /** Request, chunk, part, last: `raw` for raw bytes; absent means JSON. */
  body: 'Warden-Body',
  /** Response and control messages: one of {@link MessageType}. */
  type: 'Warden-Type',
  /** Response: 0, 1, 2 … per response; ack: how many response messages the caller has received. */
  seq: 'Warden-Seq',
  /** Broadcast cancel: the reply subject of the request to cancel. */
  reply: 'Warden-Reply',
} as const;

/**
 * Message types in the `Warden-Type` header. A response is zero or more `chunk`s (each may be
 * preceded by `part`s, fragments of the same chunk), then exactly one `end`, `last` (the final chunk
 * and the end in one message) or `error`. `cancel` and `ack` go from the caller to the server.
 */
export const MessageType = {
  chunk: 'chunk',
  part: 'part',
  last: 'last',
  end: 'end',
  error: 'error',
  cancel: 'cancel',
  ack: 'ack',
} as const;
/** A value of {@link MessageType}. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The default subject prefix. */
export const DEFAULT_PREFIX = 'warden';
/** The queue group every endpoint's any-instance subscription joins. */
export const QUEUE_GROUP = 'warden';
/** A caller acks at least every this many response messages it received while it keeps up. */
export const ACK_EVERY = 32;
/** Room kept free for headers when a chunk is split to fit NATS `max_payload`. */
export const HEADER_ROOM = 512;
/** Subject prefixes: tokens of letters, digits, `_` and `-`, separated by dots. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** `{prefix}.{namespace}.{component}.{endpoint}`, plus `.{instanceId}` for a direct call. */
export function requestSubject(
  prefix: string,
  namespace: string,
  component: string,
  endpoint: string,
  instanceId?: string,
): string {
  const base = `${prefix}.${namespace}.${component}.${endpoint}`;
  return instanceId ? `${base}.${instanceId}` : base;
}

/** The subject every server listens on for cancels of requests whose server the caller does not know yet. */
export function cancelSubject(prefix: string): string {
  return `${prefix}._cancel`;
}

/** The prefix of a server's per-request control subjects: `{prefix}._ctl.{serverId}` (a request adds `.{key}`). */
export function controlPrefix(prefix: string, serverId: string): string {
  return `${prefix}._ctl.${serverId}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The body of an `error` message: `{ code, message }` as JSON. */
export function encodeWireError(err: WireError): Uint8Array {
  return encoder.encode(JSON.stringify({ code: err.code, message: err.message }));
}

/** Reads an `error` message's body; anything unreadable becomes `WARDEN_PROTOCOL_ERROR`. */
export function decodeWireError(bytes: Uint8Array): WardenError {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as { code?: unknown; message?: unknown };
    const message = typeof value.message === 'string' ? value.message : 'The server reported an error';
    if (isErrorCode(value.code)) return new WardenError(value.code, message);
    return new WardenError('WARDEN_HANDLER_ERROR', message, { details: { code: value.code } });
  } catch {
    return new WardenError(
      'WARDEN_PROTOCOL_ERROR',
      'The server sent an error message that is not valid JSON',
    );
  }
}

/** Joins fragments of one chunk into one buffer. */
export function joinParts(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A copy of `data[start…end]`. Raw bytes are copied: a view would pin the whole socket read buffer
 * (64 KiB) for as long as the caller keeps the chunk (`Buffer#slice` is a view, not a copy). Small
 * copies are plain `Uint8Array`s (a `Buffer` costs more to make); each copy has a buffer of its own.
 */
export function copyOf(data: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n <= 64) {
    // A plain loop beats making a view to copy from, for the small chunks that are most of them.
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = data[start + i] as number;
    return out;
  }
  // Above half of Node's pool size `allocUnsafe` makes a buffer of its own, not zero-filled first.
  const out = n >= UNPOOLED ? Buffer.allocUnsafe(n) : new Uint8Array(n);
  out.set(new Uint8Array(data.buffer, data.byteOffset + start, n));
  return out;
}

const UNPOOLED = Buffer.poolSize >>> 1;
