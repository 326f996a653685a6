/**
 * The HTTP/2 wire format of the request plane: header names, content types, the framed stream
 * format (`application/vnd.warden.stream`), NDJSON lines, the status mapping and the percent
 * encoding of error messages in trailers. Pure functions, no I/O; `docs/protocol/http2.md`
 * describes the same format for other implementations.
 */
import { jsonText } from '../../core/body.js';
import { type ErrorCode, isErrorCode, WardenError } from '../../core/errors.js';
import type { WireError } from '../../core/request-plane.js';

/** Header names the HTTP/2 transport reads or writes (lower case, as HTTP/2 requires). */
export const Http2Headers = {
  /** Request: the instance to call (16 hex digits); absent means any instance. */
  instanceId: 'warden-instance-id',
  /** Request: the caller's request id; the server makes one when it is absent. */
  requestId: 'warden-request-id',
  /** Request: the deadline relative to when the server receives the headers, in ms (preferred). */
  timeoutMs: 'warden-timeout-ms',
  /** Request: the deadline as epoch ms (used when the clocks agree; the earlier of both wins). */
  deadline: 'warden-deadline',
  /** Response headers or trailers: `ok` or `error`. */
  status: 'warden-status',
  /** Error responses and error trailers: the warden error code. */
  errorCode: 'warden-error-code',
  /** Error trailers: the message, percent-encoded UTF-8. */
  errorMessage: 'warden-error-message',
} as const;

/** Content types of request and response bodies. */
export const ContentTypes = {
  /** A JSON body or a JSON error body `{ code, message }`. */
  json: 'application/json',
  /** Raw bytes: a raw request body, or the whole body of a one-chunk raw response. */
  raw: 'application/octet-stream',
  /** One JSON value per line, the end and errors in trailers. */
  ndjson: 'application/x-ndjson',
  /** Length-prefixed frames with a kind byte, ending with an end or an error frame. */
  stream: 'application/vnd.warden.stream',
} as const;

/** Kinds of frames in `application/vnd.warden.stream`. */
export const FrameKind = { json: 0, raw: 1, end: 2, error: 3 } as const;
/** 0 = JSON chunk, 1 = raw chunk, 2 = end, 3 = error `{ code, message }` as JSON. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Bytes before each frame's payload: one kind byte and a 32-bit big-endian length. */
export const FRAME_HEADER_BYTES = 5;

/** The end frame: kind 2, no payload. */
export const END_FRAME: Buffer = Buffer.from([FrameKind.end, 0, 0, 0, 0]);

/** The URL path of an endpoint. */
export function endpointUrlPath(namespace: string, component: string, endpoint: string): string {
  return `/v1/${namespace}/${component}/${endpoint}`;
}

/** Splits `/v1/{namespace}/{component}/{endpoint}` (a query string is ignored); undefined if it is not one. */
export function parseEndpointUrlPath(path: string | undefined): [string, string, string] | undefined {
  if (path === undefined || !path.startsWith('/v1/')) return undefined;
  const q = path.indexOf('?');
  const parts = (q === -1 ? path.slice(4) : path.slice(4, q)).split('/');
  if (parts.length !== 3) return undefined;
  const [ns, comp, ep] = parts as [string, string, string];
  if (ns === '' || comp === '' || ep === '') return undefined;
  return [ns, comp, ep];
}

/**
 * A chunk as it leaves the server: a JSON text, or the raw bytes of a `Uint8Array`. Encoding once,
 * before the response format is chosen, lets the server check the size and send either format.
 */
export function encodeChunk(value: unknown): string | Uint8Array {
  if (value instanceof Uint8Array) return value;
  return jsonText(value, 'response');
}

/**
 * Builds one frame from an encoded chunk (see {@link encodeChunk}): a JSON frame for a string, a
 * raw frame for bytes. With `tail`, that frame (e.g. {@link END_FRAME}) follows in the same buffer.
 */
export function encodeFrame(payload: string | Uint8Array, tail?: Buffer): Buffer {
  const tailLength = tail === undefined ? 0 : tail.length;
  let out: Buffer;
  let length: number;
  if (typeof payload === 'string') {
    length = Buffer.byteLength(payload);
    out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length + tailLength);
    out[0] = FrameKind.json;
    out.write(payload, FRAME_HEADER_BYTES, 'utf8');
  } else {
    length = payload.length;
    out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length + tailLength);
    out[0] = FrameKind.raw;
    out.set(payload, FRAME_HEADER_BYTES);
  }
  out.writeUInt32BE(length, 1);
  if (tail !== undefined) out.set(tail, FRAME_HEADER_BYTES + length);
  return out;
}

/** Encodes an error frame: kind 3 and `{ code, message }` as JSON. */
export function encodeErrorFrame(err: WireError): Buffer {
  const text = JSON.stringify({ code: err.code, message: err.message });
  const length = Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  out[0] = FrameKind.error;
  out.writeUInt32BE(length, 1);
  out.write(text, FRAME_HEADER_BYTES, 'utf8');
  return out;
}

/** The payload of a frame, as a plain `Uint8Array` view (no copy). */
export function rawView(payload: Buffer): Uint8Array {
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
}

/** Parses a JSON payload; bad JSON is `WARDEN_PROTOCOL_ERROR`. */
export function parseJsonPayload(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new WardenError('WARDEN_PROTOCOL_ERROR', 'The peer sent a chunk that is not valid JSON', {
      cause: err,
    });
  }
}

/** Reads a `{ code, message }` JSON error; anything else becomes `fallback` with the text as message. */
export function parseWireError(payload: Buffer | string, fallback: ErrorCode): WireError {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  try {
    const value = JSON.parse(text) as { code?: unknown; message?: unknown } | null;
    if (value !== null && typeof value === 'object' && isErrorCode(value.code)) {
      return { code: value.code, message: typeof value.message === 'string' ? value.message : value.code };
    }
  } catch {
    // Not JSON: fall through to the fallback code.
  }
  return { code: fallback, message: text.length > 0 ? text.slice(0, 500) : fallback };
}

/** Receives the frames a {@link FrameDecoder} splits off, in order. */
export interface FrameSink {
  frame(kind: number, payload: Buffer): void;
}

/**
 * Splits a byte stream of frames. Complete frames in one buffer are handed on as views without
 * copying; a frame split across buffers is joined once, when all its bytes are there.
 */
export class FrameDecoder {
  private parts: Buffer[] | undefined = undefined;
  private have = 0;
  /** Bytes of the frame being assembled (header included); 0 while its header is incomplete. */
  private need = 0;

  /** @param maxFrameBytes payloads above this are refused with `WARDEN_MESSAGE_TOO_LARGE` */
  constructor(private readonly maxFrameBytes: number) {}

  /** True when bytes of an incomplete frame are buffered. */
  get partial(): boolean {
    return this.have > 0;
  }

  /** Feeds bytes; hands each complete frame to `sink`, in order. Throws on an oversized frame. */
  push(chunk: Buffer, sink: FrameSink): void {
    let buf = chunk;
    if (this.have > 0) {
      const parts = this.parts as Buffer[];
      parts.push(chunk);
      this.have += chunk.length;
      if (this.need === 0) {
        if (this.have < FRAME_HEADER_BYTES) return;
        const joined = Buffer.concat(parts, this.have);
        this.parts = [joined];
        this.need = FRAME_HEADER_BYTES + this.checkLength(joined.readUInt32BE(1));
      }
      if (this.have < this.need) return;
      const all = this.parts as Buffer[];
      buf = all.length === 1 ? (all[0] as Buffer) : Buffer.concat(all, this.have);
      this.parts = undefined;
      this.have = 0;
      this.need = 0;
    }
    let offset = 0;
    const total = buf.length;
    while (total - offset >= FRAME_HEADER_BYTES) {
      const end = offset + FRAME_HEADER_BYTES + this.checkLength(buf.readUInt32BE(offset + 1));
      if (end > total) break;
      sink.frame(buf[offset] as number, buf.subarray(offset + FRAME_HEADER_BYTES, end));
      offset = end;
    }
    if (offset < total) {
      const rest = buf.subarray(offset);
      this.parts = [rest];
      this.have = rest.length;
      this.need =
        rest.length >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + this.checkLength(rest.readUInt32BE(1)) : 0;
    }
  }

  private checkLength(length: number): number {
    if (length > this.maxFrameBytes) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk of ${length} bytes is larger than the limit of ${this.maxFrameBytes} bytes`,
      );
    }
    return length;
  }
}

/** The HTTP status of an error sent before any chunk. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'WARDEN_INVALID_REQUEST':
    case 'WARDEN_PROTOCOL_ERROR':
    case 'WARDEN_INVALID_NAME':
    case 'WARDEN_INVALID_OPTIONS':
      return 400;
    case 'WARDEN_UNAUTHORIZED':
      return 401;
    case 'WARDEN_ENDPOINT_NOT_FOUND':
    case 'WARDEN_INSTANCE_NOT_FOUND':
      return 404;
    case 'WARDEN_MESSAGE_TOO_LARGE':
      return 413;
    case 'WARDEN_CANCELLED':
      return 499;
    case 'WARDEN_ENDPOINT_DRAINING':
    case 'WARDEN_OVERLOADED':
    case 'WARDEN_SERVER_NOT_RUNNING':
      return 503;
    case 'WARDEN_DEADLINE_EXCEEDED':
      return 504;
    default:
      return 500;
  }
}

/** The code a client assumes for an error status whose body names no warden code. */
export function codeOfHttpStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
    case 415:
      return 'WARDEN_INVALID_REQUEST';
    case 401:
    case 403:
      return 'WARDEN_UNAUTHORIZED';
    case 404:
      return 'WARDEN_ENDPOINT_NOT_FOUND';
    case 413:
      return 'WARDEN_MESSAGE_TOO_LARGE';
    case 499:
      return 'WARDEN_CANCELLED';
    case 503:
      return 'WARDEN_OVERLOADED';
    case 504:
      return 'WARDEN_DEADLINE_EXCEEDED';
    case 500:
      return 'WARDEN_HANDLER_ERROR';
    default:
      return 'WARDEN_PROTOCOL_ERROR';
  }
}

/**
 * Percent-encodes a message for a header value, as `grpc-message` does: bytes 0x20–0x7E except
 * `%` stay as they are, every other UTF-8 byte becomes `%XX`.
 */
export function percentEncode(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Reverses {@link percentEncode}; a malformed escape is left as it is. */
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
