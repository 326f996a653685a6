/**
 * NATS headers of the request plane, written and read without building nats.js header maps on the
 * hot path: outgoing headers are pre-encoded bytes (cached for the common messages), incoming ones
 * are read as text straight from the message buffer.
 */
import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import { BodyKind } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import { type MessageType, NatsHeader } from './codec.js';

/**
 * Headers already encoded as NATS header bytes. nats.js's `publish` only calls `encode()` on the
 * headers it is given, so it sends these bytes as they are.
 */
class EncodedHeaders {
  constructor(private readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

const encoder = new TextEncoder();
const HEAD = 'NATS/1.0\r\n';

/** NATS headers from `Name: value\r\n` lines (names and values already checked). */
export function encodedHeaders(lines: string): MsgHdrs {
  return new EncodedHeaders(encoder.encode(`${HEAD}${lines}\r\n`)) as unknown as MsgHdrs;
}

const CACHED_SEQS = 256;
const cache = new Map<string, MsgHdrs>();

/** Headers of a response or control message; those of the first 256 messages of a response are cached. */
export function messageHeaders(type: MessageType, seq: number, kind?: BodyKind): MsgHdrs {
  if (seq >= CACHED_SEQS) return buildMessageHeaders(type, seq, kind === BodyKind.raw);
  const raw = kind === BodyKind.raw;
  const key = `${type}${raw ? 'r' : 'j'}${seq}`;
  let cached = cache.get(key);
  if (!cached) {
    cached = buildMessageHeaders(type, seq, raw);
    cache.set(key, cached);
  }
  return cached;
}

function buildMessageHeaders(type: MessageType, seq: number, raw: boolean): MsgHdrs {
  const body = raw ? `${NatsHeader.body}: raw\r\n` : '';
  return encodedHeaders(`${NatsHeader.type}: ${type}\r\n${NatsHeader.seq}: ${seq}\r\n${body}`);
}

/** Header names: visible ASCII without `:`; values: no CR or LF. */
const HEADER_NAME = /^[!-9;-~]+$/;
const HEADER_VALUE = /^[^\r\n]*$/;

/** Checks a user header; throws a plain `Error` naming what is wrong. */
export function checkHeader(name: string, value: string): void {
  if (!HEADER_NAME.test(name)) throw new Error('header names are visible ASCII characters without ":"');
  if (typeof value !== 'string' || !HEADER_VALUE.test(value))
    throw new Error('header values are strings without CR or LF');
}

/**
 * User headers as a flat list `[name, value, …]` for a compact request; names starting with
 * `warden-` are reserved (`WARDEN_INVALID_OPTIONS`), names and values are checked as for NATS headers.
 */
export function userHeaderList(values: Readonly<Record<string, string>>): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    checkUserHeader(name, value);
    list.push(name, value);
  }
  return list;
}

function checkUserHeader(name: string, value: string): void {
  if (name.toLowerCase().startsWith('warden-')) {
    throw new WardenError(
      'WARDEN_INVALID_OPTIONS',
      `Header '${name}' is reserved: names starting with 'warden-' carry the NATS protocol`,
    );
  }
  try {
    checkHeader(name, value);
  } catch (err) {
    throw new WardenError('WARDEN_INVALID_OPTIONS', `Invalid header '${name}': ${messageOf(err)}`);
  }
}

/** `[name, value, …]` (checked already) as NATS header lines. */
export function headerLines(list: readonly string[]): string {
  let lines = '';
  for (let i = 0; i + 1 < list.length; i += 2) lines += `${list[i]}: ${list[i + 1]}\r\n`;
  return lines;
}

/**
 * The headers of a request in the header framing: its id (optional: the server uses the reply
 * subject when absent), the time the caller still waits, the body kind and user header lines.
 */
export function requestHeaders(
  requestId: string | undefined,
  timeoutMs: number | undefined,
  kind: BodyKind,
  userLines: string,
): MsgHdrs {
  let lines = requestId === undefined ? '' : `${NatsHeader.requestId}: ${requestId}\r\n`;
  if (timeoutMs !== undefined) lines += `${NatsHeader.timeoutMs}: ${timeoutMs}\r\n`;
  if (kind === BodyKind.raw) lines += `${NatsHeader.body}: raw\r\n`;
  return encodedHeaders(lines + userLines);
}

/** nats.js 3.4 keeps the raw message: `_rdata` holds headers then payload, `_msg.hdr` the header length. */
interface RawMsg {
  readonly _msg?: { readonly hdr?: number };
  readonly _rdata?: Uint8Array;
}

/**
 * The length of a message's header block, 0 when it has none (a compact or plain message). Reads
 * nats.js's raw message when it can, else asks `msg.headers`.
 */
export function headerBytes(msg: Msg): number {
  const hdr = (msg as unknown as RawMsg)._msg?.hdr;
  if (typeof hdr === 'number') return Math.max(hdr, 0);
  return msg.headers ? 1 : 0;
}

/**
 * The header block of a message as text (`NATS/1.0[ status]\r\nName: value\r\n…`), or undefined
 * when it has none. Reads nats.js's buffer directly when it can, else rebuilds it from `msg.headers`.
 */
export function headerText(msg: Msg): string | undefined {
  const raw = msg as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  const data = raw._rdata;
  if (typeof hdr === 'number' && data instanceof Uint8Array) {
    if (hdr <= 0) return undefined;
    return Buffer.from(data.buffer, data.byteOffset, hdr).toString('utf8');
  }
  const h = msg.headers;
  if (!h) return undefined;
  let text = h.code ? `NATS/1.0 ${h.code} ${h.description}\r\n` : HEAD;
  for (const key of h.keys()) text += `${key}: ${h.get(key)}\r\n`;
  return `${text}\r\n`;
}

/** The status code of a NATS status message (e.g. 503 no responders); 0 for a published message. */
export function statusCode(text: string | undefined): number {
  if (text === undefined || text.charCodeAt(8) !== 32 /* ' ' after NATS/1.0 */) return 0;
  const code = Number.parseInt(text.slice(9, 12), 10);
  return Number.isNaN(code) ? 0 : code;
}

/** One header's value (names are matched exactly, as warden writes them); undefined when absent. */
export function headerValue(text: string | undefined, name: string): string | undefined {
  if (text === undefined) return undefined;
  const key = `\n${name}:`;
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length;
  const end = text.indexOf('\r', start);
  return text.slice(start, end < 0 ? undefined : end).trim();
}

/** What a caller reads from a response message's headers. */
export interface ResponseMeta {
  readonly status: number;
  readonly type: string | undefined;
  /** NaN when absent. */
  readonly seq: number;
  readonly kind: BodyKind;
}

/** Reads a response message's status, type, sequence number and body kind. */
export function readResponseMeta(msg: Msg): ResponseMeta {
  const text = headerText(msg);
  return {
    status: statusCode(text),
    type: headerValue(text, NatsHeader.type),
    seq: Number(headerValue(text, NatsHeader.seq) ?? Number.NaN),
    kind: headerValue(text, NatsHeader.body) === 'raw' ? BodyKind.raw : BodyKind.json,
  };
}

/** The request metadata a server reads from a request's headers. */
export interface RequestMeta {
  readonly requestId: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly kind: BodyKind;
  /** Every header that is not warden's, with lower-case names (e.g. `traceparent`). */
  readonly headers: Record<string, string>;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Reads a request's headers; a request without any (e.g. a plain `nats req`) gets defaults. */
export function readRequestMeta(msg: Msg): RequestMeta {
  const text = headerText(msg);
  let requestId: string | undefined;
  let timeoutMs: number | undefined;
  let kind: BodyKind = BodyKind.json;
  let user: Record<string, string> | undefined;
  if (text !== undefined) {
    let at = text.indexOf('\r\n') + 2;
    while (at < text.length) {
      const end = text.indexOf('\r\n', at);
      if (end <= at) break; // the blank line that ends the block
      const colon = text.indexOf(':', at);
      if (colon > at && colon < end) {
        const name = text.slice(at, colon);
        const value = text.slice(colon + 1, end).trim();
        if (name === NatsHeader.requestId) requestId = value;
        else if (name === NatsHeader.timeoutMs) {
          const n = Number(value);
          if (value !== '' && Number.isFinite(n)) timeoutMs = n;
        } else if (name === NatsHeader.body) {
          if (value === 'raw') kind = BodyKind.raw;
        } else {
          const lower = name.toLowerCase();
          if (!lower.startsWith('warden-')) {
            user ??= {};
            user[lower] = value;
          }
        }
      }
      at = end + 2;
    }
  }
  return { requestId, timeoutMs, kind, headers: user ?? NO_HEADERS };
}
