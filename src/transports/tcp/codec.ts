/**
 * The TCP wire format of the request plane: length-prefixed binary frames with stream ids, many
 * concurrent streams per connection. `docs/protocol/tcp.md` specifies it byte by byte; this file is
 * the one implementation of it (encoders, and an incremental decoder that never allocates more than
 * a frame it has accepted).
 *
 * Frame layout (all integers big-endian):
 *
 * ```text
 * u32 length   bytes after this field: 6 + payload length; high bit reserved (0)
 * u8  type     FrameType
 * u8  flags    FrameFlags (only CHUNK defines one); 0 otherwise
 * u32 streamId 0 = the connection itself
 * ...payload   length - 6 bytes
 * ```
 *
 * The decoder lives in `decoder.ts`.
 */
import { BodyKind } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';

/** Frame types. Constants, not an `enum`, as everywhere in warden. */
export const FrameType = {
  /** Stream 0, first frame each way: protocol version, largest frame accepted, optional token. */
  HELLO: 1,
  /** Client → server, opens a stream: path, instance, request id, deadline, window, headers, body. */
  REQUEST: 2,
  /** Server → client: one response chunk (body kind + bytes); flag END_STREAM ends the stream too. */
  CHUNK: 3,
  /** Server → client: the response ended normally. */
  END: 4,
  /** Either way: `{code,message}` as JSON. On a stream it ends that stream; on stream 0, the connection. */
  ERROR: 5,
  /** Client → server: the caller went away; the server aborts the handler and still ends the stream. */
  CANCEL: 6,
  /** Stream 0, either way: 8 opaque bytes that the peer echoes in a PONG. */
  PING: 7,
  /** Stream 0: the answer to a PING, with its 8 bytes. */
  PONG: 8,
  /** Client → server: grants the server more bytes of response credit on a stream. */
  WINDOW: 9,
} as const;
/** A frame type, one of {@link FrameType}. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flags of the frame header. */
export const FrameFlags = {
  /** On CHUNK: this is the last chunk; no END follows. */
  END_STREAM: 0x01,
} as const;

/** The version this implementation speaks in HELLO. */
export const PROTOCOL_VERSION = 1;
/** Bytes of the frame header: u32 length, u8 type, u8 flags, u32 stream id. */
export const HEADER_BYTES = 10;
/** Default largest frame (the value of the length field): 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Smallest `maxFrameBytes` a peer may announce. */
export const MIN_MAX_FRAME_BYTES = 1024;
/** Largest length a frame may declare: the high bit of the length field is reserved. */
export const LENGTH_LIMIT = 0x7fff_ffff;
/** Bytes a CHUNK frame adds to its body (header and body kind); credit counts whole frames. */
export const CHUNK_OVERHEAD = HEADER_BYTES + 1;
/** A REQUEST window of this value turns flow control off for the stream. */
export const UNLIMITED_WINDOW = 0xffff_ffff;

/** The smallest length field: a frame with an empty payload. */
export const MIN_LENGTH = HEADER_BYTES - 4;
const TWO_32 = 0x1_0000_0000;

/** HELLO: the first frame each way on a connection. */
export interface HelloFrame {
  readonly type: typeof FrameType.HELLO;
  readonly streamId: 0;
  readonly version: number;
  /** The largest frame (length field) the sender accepts. */
  readonly maxFrameBytes: number;
  /** Shared-secret token; empty when none (the server always sends none). */
  readonly token: string;
}

/** REQUEST: opens stream `streamId`. */
export interface RequestFrame {
  readonly type: typeof FrameType.REQUEST;
  readonly streamId: number;
  /** Epoch ms after which the caller no longer waits; 0 for none. */
  readonly deadline: number;
  /** Initial response credit in bytes ({@link UNLIMITED_WINDOW}: no flow control). */
  readonly window: number;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  /** Empty: any instance. */
  readonly instanceId: string;
  readonly requestId: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyKind: BodyKind;
  /** A view into the received bytes, not a copy. */
  readonly body: Uint8Array;
}

/** CHUNK: one response chunk. */
export interface ChunkFrame {
  readonly type: typeof FrameType.CHUNK;
  readonly streamId: number;
  /** True when the END_STREAM flag was set: the stream ends with this chunk. */
  readonly last: boolean;
  readonly bodyKind: BodyKind;
  /** A view into the received bytes, not a copy. */
  readonly body: Uint8Array;
}

/** END, CANCEL: no payload. */
export interface BareFrame {
  readonly type: typeof FrameType.END | typeof FrameType.CANCEL;
  readonly streamId: number;
}

/** ERROR: ends a stream (or, on stream 0, the connection) with a code and a message. */
export interface ErrorFrame {
  readonly type: typeof FrameType.ERROR;
  readonly streamId: number;
  readonly code: string;
  readonly message: string;
}

/** PING and PONG: 8 opaque bytes. */
export interface PingFrame {
  readonly type: typeof FrameType.PING | typeof FrameType.PONG;
  readonly streamId: 0;
  readonly data: Uint8Array;
}

/** WINDOW: more response credit for a stream. */
export interface WindowFrame {
  readonly type: typeof FrameType.WINDOW;
  readonly streamId: number;
  /** 1 … 2^31-1 bytes. */
  readonly increment: number;
}

/** Any decoded frame. */
export type Frame = HelloFrame | RequestFrame | ChunkFrame | BareFrame | ErrorFrame | PingFrame | WindowFrame;

function frame(type: FrameType, flags: number, streamId: number, payloadBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
  buf.writeUInt32BE(MIN_LENGTH + payloadBytes, 0);
  buf[4] = type;
  buf[5] = flags;
  buf.writeUInt32BE(streamId, 6);
  return buf;
}

/** Encodes a HELLO frame. */
export function encodeHello(maxFrameBytes: number, token = '', version = PROTOCOL_VERSION): Buffer {
  const tokenBytes = Buffer.byteLength(token);
  if (tokenBytes > 0xffff)
    throw new WardenError('WARDEN_INVALID_OPTIONS', 'The token is longer than 65535 bytes');
  const buf = frame(FrameType.HELLO, 0, 0, 7 + tokenBytes);
  buf[10] = version;
  buf.writeUInt32BE(maxFrameBytes, 11);
  buf.writeUInt16BE(tokenBytes, 15);
  buf.write(token, 17, 'utf8');
  return buf;
}

/** The fields of a REQUEST that {@link encodeRequest} writes. */
export interface RequestHead {
  readonly deadline: number;
  readonly window: number;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly instanceId: string;
  readonly requestId: string;
  readonly headers: Readonly<Record<string, string>> | undefined;
}

function strBytes(s: string, what: string): number {
  const n = Buffer.byteLength(s);
  if (n > 0xffff) throw new WardenError('WARDEN_INVALID_OPTIONS', `The ${what} is longer than 65535 bytes`);
  return n;
}

function writeStr(buf: Buffer, off: number, s: string, n: number): number {
  buf[off] = n >>> 8;
  buf[off + 1] = n & 0xff;
  if (n > 0) buf.write(s, off + 2, n, 'utf8');
  return off + 2 + n;
}

/**
 * Encodes a REQUEST frame. Header names are written in lower case. Throws `WARDEN_INVALID_OPTIONS`
 * when a string is longer than 65535 bytes or there are more than 65535 headers.
 */
export function encodeRequest(
  streamId: number,
  head: RequestHead,
  bodyKind: BodyKind,
  body: Uint8Array,
): Buffer {
  return encodeRequestHead(streamId, head, bodyKind, body, true);
}

/**
 * The encoded namespace, component, endpoint and instance id of the last REQUEST an encoder wrote
 * (see {@link encodeRequestHead}): a client calls the same few targets over and over, so the bytes
 * are copied in rather than encoded again.
 */
export class RouteBytes {
  namespace = '';
  component = '';
  endpoint = '';
  instanceId = '';
  bytes: Buffer | undefined = undefined;

  /** The four fields of `head` as they are written (each a `str`), encoded once per target. */
  of(head: RequestHead): Buffer {
    const bytes = this.bytes;
    if (
      bytes !== undefined &&
      head.namespace === this.namespace &&
      head.component === this.component &&
      head.endpoint === this.endpoint &&
      head.instanceId === this.instanceId
    ) {
      return bytes;
    }
    const ns = strBytes(head.namespace, 'namespace');
    const comp = strBytes(head.component, 'component');
    const ep = strBytes(head.endpoint, 'endpoint');
    const inst = strBytes(head.instanceId, 'instance id');
    const out = Buffer.allocUnsafe(8 + ns + comp + ep + inst);
    let off = writeStr(out, 0, head.namespace, ns);
    off = writeStr(out, off, head.component, comp);
    off = writeStr(out, off, head.endpoint, ep);
    writeStr(out, off, head.instanceId, inst);
    this.namespace = head.namespace;
    this.component = head.component;
    this.endpoint = head.endpoint;
    this.instanceId = head.instanceId;
    this.bytes = out;
    return out;
  }
}

/**
 * Encodes a REQUEST frame's bytes up to its body, with a length field that counts the body; the
 * body itself follows in the next write (no copy). With `inline`, the body is copied in and the
 * result is the whole frame. `route` remembers the encoded target between calls.
 */
export function encodeRequestHead(
  streamId: number,
  head: RequestHead,
  bodyKind: BodyKind,
  body: Uint8Array,
  inline = false,
  route?: RouteBytes,
): Buffer {
  let routeBytes: Buffer | undefined;
  let ns = 0;
  let comp = 0;
  let ep = 0;
  let inst = 0;
  let routeLength: number;
  if (route !== undefined) {
    routeBytes = route.of(head);
    routeLength = routeBytes.length;
  } else {
    ns = strBytes(head.namespace, 'namespace');
    comp = strBytes(head.component, 'component');
    ep = strBytes(head.endpoint, 'endpoint');
    inst = strBytes(head.instanceId, 'instance id');
    routeLength = 8 + ns + comp + ep + inst;
  }
  const rid = strBytes(head.requestId, 'request id');
  let size = 15 + 2 + routeLength + rid;
  let names: string[] | undefined;
  let values: string[] | undefined;
  let sizes: number[] | undefined;
  if (head.headers !== undefined) {
    for (const key in head.headers) {
      const value = head.headers[key];
      if (typeof value !== 'string') continue;
      names ??= [];
      values ??= [];
      sizes ??= [];
      const name = key.toLowerCase();
      const a = strBytes(name, `header name '${name}'`);
      const b = strBytes(value, `value of header '${name}'`);
      names.push(name);
      values.push(value);
      sizes.push(a, b);
      size += 4 + a + b;
    }
  }
  const count = names?.length ?? 0;
  if (count > 0xffff)
    throw new WardenError('WARDEN_INVALID_OPTIONS', 'A request has more than 65535 headers');
  const buf = frame(FrameType.REQUEST, 0, streamId, size + (inline ? body.length : 0));
  if (!inline) buf.writeUInt32BE(MIN_LENGTH + size + body.length, 0);
  const deadline = Math.max(0, Math.floor(head.deadline));
  buf.writeUInt32BE(Math.floor(deadline / TWO_32), 10);
  buf.writeUInt32BE(deadline >>> 0, 14);
  buf.writeUInt32BE(head.window, 18);
  buf[22] = bodyKind;
  buf.writeUInt16BE(count, 23);
  let off: number;
  if (routeBytes !== undefined) {
    buf.set(routeBytes, 25);
    off = 25 + routeBytes.length;
  } else {
    off = writeStr(buf, 25, head.namespace, ns);
    off = writeStr(buf, off, head.component, comp);
    off = writeStr(buf, off, head.endpoint, ep);
    off = writeStr(buf, off, head.instanceId, inst);
  }
  off = writeStr(buf, off, head.requestId, rid);
  if (names !== undefined && values !== undefined && sizes !== undefined) {
    for (let i = 0; i < count; i++) {
      off = writeStr(buf, off, names[i] as string, sizes[2 * i] as number);
      off = writeStr(buf, off, values[i] as string, sizes[2 * i + 1] as number);
    }
  }
  if (inline) buf.set(body, off);
  return buf;
}

/**
 * Encodes a CHUNK frame's 11 bytes before its body, with a length field that counts the body; the
 * body itself follows in the next write (no copy).
 */
export function encodeChunkHead(streamId: number, bodyKind: BodyKind, bodyLength: number): Buffer {
  const buf = frame(FrameType.CHUNK, 0, streamId, 1);
  buf.writeUInt32BE(MIN_LENGTH + 1 + bodyLength, 0);
  buf[10] = bodyKind;
  return buf;
}

/** Bodies from this size on are written after their frame's head rather than copied into it. */
export const ZERO_COPY_BYTES = 4096;

/** Encodes a CHUNK frame (`last` sets END_STREAM). */
export function encodeChunk(streamId: number, bodyKind: BodyKind, body: Uint8Array, last = false): Buffer {
  const buf = frame(FrameType.CHUNK, last ? FrameFlags.END_STREAM : 0, streamId, 1 + body.length);
  buf[10] = bodyKind;
  buf.set(body, 11);
  return buf;
}

/**
 * Encodes a CHUNK frame of a JSON text without an intermediate byte array (the hot path of
 * responses: the text is written straight into the frame).
 */
export function encodeJsonChunk(streamId: number, json: string): Buffer {
  const n = Buffer.byteLength(json);
  const buf = frame(FrameType.CHUNK, 0, streamId, 1 + n);
  buf[10] = BodyKind.json;
  buf.write(json, 11, n, 'utf8');
  return buf;
}

/** Encodes an END frame. */
export function encodeEnd(streamId: number): Buffer {
  return frame(FrameType.END, 0, streamId, 0);
}

/** Encodes a CANCEL frame. */
export function encodeCancel(streamId: number): Buffer {
  return frame(FrameType.CANCEL, 0, streamId, 0);
}

/** Encodes an ERROR frame: `{code,message}` as JSON. */
export function encodeError(streamId: number, code: string, message: string): Buffer {
  const json = JSON.stringify({ code, message });
  const n = Buffer.byteLength(json);
  const buf = frame(FrameType.ERROR, 0, streamId, n);
  buf.write(json, 10, n, 'utf8');
  return buf;
}

/** Encodes a PING (or, with `pong`, a PONG) frame carrying 8 bytes. */
export function encodePing(data: Uint8Array, pong = false): Buffer {
  if (data.length !== 8) throw new RangeError('PING data is 8 bytes');
  const buf = frame(pong ? FrameType.PONG : FrameType.PING, 0, 0, 8);
  buf.set(data, 10);
  return buf;
}

/** Encodes a WINDOW frame granting `increment` (1 … 2^31-1) bytes of credit. */
export function encodeWindow(streamId: number, increment: number): Buffer {
  const buf = frame(FrameType.WINDOW, 0, streamId, 4);
  buf.writeUInt32BE(increment, 10);
  return buf;
}

/** Encodes any frame; the generic (slower) form of the `encode*` functions, for tests and tools. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case FrameType.HELLO:
      return encodeHello(f.maxFrameBytes, f.token, f.version);
    case FrameType.REQUEST:
      return encodeRequest(f.streamId, f, f.bodyKind, f.body);
    case FrameType.CHUNK:
      return encodeChunk(f.streamId, f.bodyKind, f.body, f.last);
    case FrameType.END:
      return encodeEnd(f.streamId);
    case FrameType.CANCEL:
      return encodeCancel(f.streamId);
    case FrameType.ERROR:
      return encodeError(f.streamId, f.code, f.message);
    case FrameType.PING:
      return encodePing(f.data);
    case FrameType.PONG:
      return encodePing(f.data, true);
    case FrameType.WINDOW:
      return encodeWindow(f.streamId, f.increment);
  }
}
