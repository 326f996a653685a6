/**
 * The compact framing of the NATS request plane: warden's metadata as a few bytes in front of the
 * payload instead of NATS headers. A message without headers is a plain `PUB`/`MSG`, which nats.js
 * and nats-server handle markedly cheaper than `HPUB`/`HMSG` (measured: ~3.5 µs less CPU per
 * request/reply over client, server and nats-server). `docs/protocol/nats.md` specifies the bytes.
 */
import { BodyKind, jsonText } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';

/** First byte of a compact request. A JSON text never starts with it, so plain requests stay readable. */
export const COMPACT_REQUEST = 0x01;

/**
 * Raw bodies larger than this travel in the header framing: putting a prefix in front of them would
 * cost an allocation outside Node's buffer pool and a copy, more than NATS headers cost.
 * JSON text is written straight into its frame either way, so it is always compact.
 */
export const COMPACT_RAW_MAX = 4096;

/** True when `value` travels better in the header framing (see {@link COMPACT_RAW_MAX}). */
export function prefersHeaders(value: EncodedValue): boolean {
  return value.kind === BodyKind.raw && value.size > COMPACT_RAW_MAX;
}

/** Flags (second byte) of a compact request. */
export const RequestFlag = {
  /** The body is raw bytes (else JSON). */
  raw: 1,
  /** A varint follows: milliseconds the caller still waits. */
  timeout: 2,
  /** User headers follow (after the timeout): a varint count, then per header a name and a value. */
  headers: 4,
} as const;

/**
 * First byte of a compact response or control message: the message type, and for body-carrying
 * types the body kind (lower case JSON, upper case raw). ASCII letters, so `nats sub` shows them.
 */
export const Code = {
  chunk: 0x63, // c
  chunkRaw: 0x43, // C
  last: 0x6c, // l
  lastRaw: 0x4c, // L
  end: 0x65, // e
  error: 0x78, // x
  batch: 0x62, // b
  ack: 0x61, // a
  cancel: 0x71, // q
} as const;

/** Bytes a varint of `n` takes (unsigned LEB128; n a safe integer ≥ 0). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes `n` as a varint at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

/** Where {@link readVarint} leaves its result (no object per read). */
export const cursor = { value: 0, at: 0 };

/** Reads a varint at `at` into {@link cursor}; throws `WARDEN_PROTOCOL_ERROR` when it is cut or too long. */
export function readVarint(data: Uint8Array, at: number): void {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (at >= data.length) break;
    const b = data[at++] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      cursor.value = value;
      cursor.at = at;
      return;
    }
    scale *= 0x80;
  }
  throw new WardenError('WARDEN_PROTOCOL_ERROR', 'A compact message has a cut or overlong number');
}

/** `type letter` + `varint seq` in front of `body` (copied), as one buffer. */
export function frame(code: number, seq: number, body: Uint8Array | undefined): Uint8Array {
  const head = seq < 0x80 ? 2 : 1 + varintSize(seq);
  const n = body === undefined ? 0 : body.length;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = code;
  if (head === 2) out[1] = seq;
  else writeVarint(out, 1, seq);
  if (n > 0) out.set(body as Uint8Array, head);
  return out;
}

/** The code of a chunk-carrying message of `kind`. */
export function chunkCode(kind: BodyKind): number {
  return kind === BodyKind.raw ? Code.chunkRaw : Code.chunk;
}

/** The code of a final chunk (`last`) of `kind`. */
export function lastCode(kind: BodyKind): number {
  return kind === BodyKind.raw ? Code.lastRaw : Code.last;
}

/** `type letter` + `varint seq` in front of an encoded value, written straight into one buffer. */
export function valueFrame(code: number, seq: number, value: EncodedValue): Uint8Array {
  const head = seq < 0x80 ? 2 : 1 + varintSize(seq);
  const out = Buffer.allocUnsafe(head + value.size);
  out[0] = code;
  if (head === 2) out[1] = seq;
  else writeVarint(out, 1, seq);
  writeValue(out, head, value);
  return out;
}

/** The bytes of an encoded value (JSON text encoded now). */
export function valueBytes(value: EncodedValue): Uint8Array {
  return value.bytes ?? Buffer.from(value.text ?? '', 'utf8');
}

function writeValue(out: Buffer, at: number, value: EncodedValue): void {
  if (value.bytes !== undefined) out.set(value.bytes, at);
  else if (value.text !== undefined) out.write(value.text, at, 'utf8');
}

/** Bytes a chunk adds to a `batch` besides its own: its length prefix. */
export function batchEntrySize(value: EncodedValue): number {
  return varintSize(value.size * 2 + 1) + value.size;
}

/**
 * A `batch` message: `b`, `varint seq`, then per chunk `varint (length × 2 + raw)` and its bytes.
 * It counts as `values.length` units of the response's sequence (see the protocol document).
 * `size` is the sum of {@link batchEntrySize} over the values.
 */
export function batchFrame(seq: number, values: readonly EncodedValue[], size: number): Uint8Array {
  const out = Buffer.allocUnsafe(1 + varintSize(seq) + size);
  out[0] = Code.batch;
  let at = writeVarint(out, 1, seq);
  for (const v of values) {
    at = writeVarint(out, at, v.size * 2 + (v.kind === BodyKind.raw ? 1 : 0));
    writeValue(out, at, v);
    at += v.size;
  }
  return out;
}

/** A control message (`a` ack / `q` cancel) carrying one number. */
export function controlFrame(code: number, n: number): Uint8Array {
  return frame(code, n, undefined);
}

/** A cancel broadcast to every server: `q` and the reply subject of the request to cancel. */
export function broadcastCancel(reply: string): Uint8Array {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(reply));
  out[0] = Code.cancel;
  out.write(reply, 1, 'utf8');
  return out;
}

const utf8 = new TextDecoder();

/** A body or chunk as encoded once: JSON text, or raw bytes (written into a frame when sent). */
export interface EncodedValue {
  readonly kind: BodyKind;
  /** JSON text (for `json`), or undefined. */
  readonly text: string | undefined;
  /** The bytes (for `raw`), or undefined. */
  readonly bytes: Uint8Array | undefined;
  /** Body bytes on the wire. */
  readonly size: number;
}

/**
 * Encodes a body once: a `Uint8Array` travels raw, anything else as JSON (`undefined` as `null`).
 * `side` says whose value it is, for the error when JSON cannot encode it (see {@link jsonText}).
 */
export function encodeValue(value: unknown, side: 'request' | 'response'): EncodedValue {
  if (value instanceof Uint8Array)
    return { kind: BodyKind.raw, text: undefined, bytes: value, size: value.length };
  const text = jsonText(value, side);
  return { kind: BodyKind.json, text, bytes: undefined, size: Buffer.byteLength(text) };
}

/**
 * A compact request: `0x01`, flags, the timeout (when given), user headers (when any), the body.
 * `headers` are checked already (see `headers.ts`).
 */
export function encodeRequest(
  body: EncodedValue,
  timeoutMs: number | undefined,
  headers: readonly string[] | undefined,
): Uint8Array {
  let flags = body.kind === BodyKind.raw ? RequestFlag.raw : 0;
  let size = 2 + body.size;
  if (timeoutMs !== undefined) {
    flags |= RequestFlag.timeout;
    size += varintSize(timeoutMs);
  }
  if (headers !== undefined && headers.length > 0) {
    flags |= RequestFlag.headers;
    size += varintSize(headers.length / 2);
    for (const h of headers) {
      const n = Buffer.byteLength(h);
      size += varintSize(n) + n;
    }
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = COMPACT_REQUEST;
  out[1] = flags;
  let at = 2;
  if (timeoutMs !== undefined) at = writeVarint(out, at, timeoutMs);
  if (flags & RequestFlag.headers) {
    const list = headers as readonly string[];
    at = writeVarint(out, at, list.length / 2);
    for (const h of list) {
      at = writeVarint(out, at, Buffer.byteLength(h));
      at += out.write(h, at, 'utf8');
    }
  }
  writeValue(out, at, body);
  return out;
}

/** What a server reads from a compact request (one shared object, valid until the next read). */
export const compactRequest = {
  kind: BodyKind.json as BodyKind,
  timeoutMs: undefined as number | undefined,
  /** Lower-case name → value, or undefined when none came. */
  headers: undefined as Record<string, string> | undefined,
  /** Offset of the body in the payload. */
  bodyAt: 0,
};

/**
 * Reads a compact request's prefix into {@link compactRequest}. User headers whose names start with
 * `warden-` (any case) are dropped, as in the header framing. Throws `WARDEN_PROTOCOL_ERROR`.
 */
export function readRequest(data: Uint8Array): void {
  const flags = data[1];
  if (flags === undefined || flags > 7) {
    throw new WardenError('WARDEN_PROTOCOL_ERROR', 'A compact request has unknown flags');
  }
  const r = compactRequest;
  r.kind = flags & RequestFlag.raw ? BodyKind.raw : BodyKind.json;
  r.timeoutMs = undefined;
  r.headers = undefined;
  let at = 2;
  if (flags & RequestFlag.timeout) {
    readVarint(data, at);
    r.timeoutMs = cursor.value;
    at = cursor.at;
  }
  if (flags & RequestFlag.headers) {
    readVarint(data, at);
    const count = cursor.value;
    at = cursor.at;
    const headers: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const name = readText(data, at).toLowerCase();
      const value = readText(data, cursor.at);
      at = cursor.at;
      if (!name.startsWith('warden-')) headers[name] = value;
    }
    r.headers = headers;
  }
  r.bodyAt = at;
}

/** A varint length and that many UTF-8 bytes; {@link cursor}.at ends after them. */
function readText(data: Uint8Array, at: number): string {
  readVarint(data, at);
  const start = cursor.at;
  const end = start + cursor.value;
  if (end > data.length) throw new WardenError('WARDEN_PROTOCOL_ERROR', 'A compact request is cut short');
  cursor.at = end;
  return utf8.decode(data.subarray(start, end));
}
