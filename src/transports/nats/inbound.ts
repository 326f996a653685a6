/**
 * What a server reads from NATS, in either framing: requests (into the registry's
 * {@link InboundRequest}), control messages (acks, cancels, NATS's 503) and broadcast cancels; and
 * the one `error` message that answers a request that never reaches a handler.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { BodyKind, decodeBody } from '../../core/body.js';
import type { EndpointRegistration, InboundRequest, WireError } from '../../core/request-plane.js';
import { copyOf, encodeWireError, MessageType, NatsHeader } from './codec.js';
import {
  COMPACT_REQUEST,
  Code,
  compactRequest,
  cursor,
  frame,
  readRequest as readCompactRequest,
  readVarint,
} from './compact.js';
import {
  headerBytes,
  headerText,
  headerValue,
  messageHeaders,
  readRequestMeta,
  statusCode,
} from './headers.js';

/** A request in the compact framing: no NATS headers, and the payload starts with {@link COMPACT_REQUEST}. */
export function isCompact(msg: Msg): boolean {
  return headerBytes(msg) === 0 && msg.data[0] === COMPACT_REQUEST;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** A decoded request and the size of its body as it arrived (for the `in` byte count). */
export interface DecodedRequest {
  readonly req: InboundRequest;
  readonly bodyBytes: number;
}

/**
 * Reads a request for `reg` that arrived with reply subject `reply`. Throws a `WardenError`
 * (`WARDEN_PROTOCOL_ERROR` for a body or prefix that cannot be read).
 */
export function decodeRequest(
  msg: Msg,
  compact: boolean,
  reg: EndpointRegistration,
  instanceId: string | undefined,
  reply: string,
): DecodedRequest {
  let kind: BodyKind;
  let timeoutMs: number | undefined;
  let headers: Record<string, string>;
  let requestId: string;
  let bytes = msg.data;
  if (compact) {
    readCompactRequest(bytes);
    kind = compactRequest.kind;
    timeoutMs = compactRequest.timeoutMs;
    headers = compactRequest.headers ?? NO_HEADERS;
    // A compact request carries no id: its reply subject is unique per call.
    requestId = reply;
    bytes = bytes.subarray(compactRequest.bodyAt);
  } else {
    const meta = readRequestMeta(msg);
    kind = meta.kind;
    timeoutMs = meta.timeoutMs;
    headers = meta.headers;
    requestId = meta.requestId ?? reply;
  }
  const body = kind === BodyKind.raw ? copyOf(bytes, 0, bytes.length) : decodeBody(kind, bytes);
  const req: InboundRequest = {
    namespace: reg.namespace,
    component: reg.component,
    endpoint: reg.endpoint,
    instanceId,
    requestId,
    deadline: timeoutMs !== undefined ? Date.now() + timeoutMs : undefined,
    headers,
    body,
  };
  return { req, bodyBytes: bytes.length };
}

/** Answers a request that never reached a handler with a single `error` message, in its framing. */
export function reject(conn: NatsConnection, reply: string, err: WireError, compact: boolean): void {
  try {
    if (compact) conn.publish(reply, frame(Code.error, 0, encodeWireError(err)));
    else conn.publish(reply, encodeWireError(err), { headers: messageHeaders(MessageType.error, 0) });
  } catch {
    // The connection is gone.
  }
}

/** A control message: an ack of `units`, or the caller is gone (a cancel, or NATS's 503). */
export type Control = { readonly type: 'ack'; readonly units: number } | { readonly type: 'gone' };

const GONE: Control = { type: 'gone' };

/** Reads a message on a request's control subject; undefined when it is none of warden's. */
export function readControl(msg: Msg): Control | undefined {
  if (headerBytes(msg) === 0) {
    // Compact: `a` + varint units received, or `q` (cancel).
    const data = msg.data;
    if (data[0] === Code.cancel) return GONE;
    if (data[0] !== Code.ack || data.length < 2) return undefined;
    try {
      readVarint(data, 1);
    } catch {
      return undefined;
    }
    return { type: 'ack', units: cursor.value };
  }
  const text = headerText(msg);
  // A status: NATS found no subscriber on the caller's reply subject, the caller is gone.
  if (statusCode(text) !== 0) return GONE;
  const type = headerValue(text, NatsHeader.type);
  if (type === MessageType.cancel) return GONE;
  if (type === MessageType.ack) return { type: 'ack', units: Number(headerValue(text, NatsHeader.seq)) };
  return undefined;
}

const utf8 = new TextDecoder();

/** The reply subject a broadcast cancel names, in either framing; undefined when it names none. */
export function broadcastReply(msg: Msg): string | undefined {
  if (headerBytes(msg) !== 0) return headerValue(headerText(msg), NatsHeader.reply) || undefined;
  const data = msg.data;
  return data[0] === Code.cancel && data.length > 1 ? utf8.decode(data.subarray(1)) : undefined;
}
