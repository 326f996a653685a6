/**
 * The incremental decoder of the TCP wire format (`codec.ts` has the frame types and encoders,
 * `docs/protocol/tcp.md` the specification).
 */
import { BodyKind } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  type ErrorFrame,
  type Frame,
  FrameFlags,
  FrameType,
  HEADER_BYTES,
  type HelloFrame,
  LENGTH_LIMIT,
  MIN_LENGTH,
  MIN_MAX_FRAME_BYTES,
  type RequestFrame,
} from './codec.js';

const TWO_32 = 0x1_0000_0000;

function protocolError(message: string): WardenError {
  return new WardenError('WARDEN_PROTOCOL_ERROR', message);
}

/** What the decoder hands its owner. */
export interface FrameHandler {
  /** A complete, valid frame. Throwing a `WARDEN_PROTOCOL_ERROR` from here poisons the decoder. */
  frame(frame: Frame): void;
  /**
   * A REQUEST or CHUNK on a non-zero stream declared `length` > `maxFrameBytes`. Its bytes are
   * discarded as they arrive (never buffered) and decoding goes on after them.
   */
  oversized(type: typeof FrameType.REQUEST | typeof FrameType.CHUNK, streamId: number, length: number): void;
}

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest length field accepted (default 16 MiB, at most 2^31-1). */
  readonly maxFrameBytes?: number;
}

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * An incremental frame decoder. Feed it whatever the socket read; it calls its handler once per
 * complete frame, in order, however the bytes were split. Payloads are views into the bytes
 * fed (a frame split across reads is assembled once, into a buffer of exactly its size, allocated
 * only after its declared length passed the limit). Never throws on bad input: `push` returns a
 * `WARDEN_PROTOCOL_ERROR` and every later `push` returns the same error.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ frame: (f) => frames.push(f), oversized: () => {} });
 * socket.on('data', (bytes) => {
 *   const err = decoder.push(bytes);
 *   if (err) closeWithProtocolError(err);
 * });
 * ```
 */
export class FrameDecoder {
  /** The largest length field accepted. */
  readonly maxFrameBytes: number;
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headLen = 0;
  private partial: Buffer | undefined;
  private filled = 0;
  private skip = 0;
  private failure: WardenError | undefined;
  // Parse cursor over the payload being decoded (fields, not a closure, so parsing allocates nothing).
  private pos = 0;
  private end = 0;
  /**
   * The namespace, component and endpoint of the last REQUEST, with their bytes: a connection calls
   * the same few endpoints over and over, so the next REQUEST's strings are reused, not decoded again.
   */
  private routeBytes: Buffer | undefined = undefined;
  private routeNamespace = '';
  private routeComponent = '';
  private routeEndpoint = '';

  constructor(
    private readonly handler: FrameHandler,
    options: FrameDecoderOptions = {},
  ) {
    this.maxFrameBytes = Math.min(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, LENGTH_LIMIT);
  }

  /** The protocol error that stopped this decoder, if one did. */
  get error(): WardenError | undefined {
    return this.failure;
  }

  /** True while a frame has been started but not completed (a connection ending now truncated it). */
  get midFrame(): boolean {
    return this.headLen > 0 || this.partial !== undefined || this.skip > 0;
  }

  /** Decodes what it can of `chunk`; returns the protocol error that stopped decoding, if any. */
  push(chunk: Uint8Array): WardenError | undefined {
    if (this.failure) return this.failure;
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    try {
      this.decode(bytes);
    } catch (err) {
      if (err instanceof WardenError && err.code === 'WARDEN_PROTOCOL_ERROR') {
        this.failure = err;
        this.partial = undefined;
        return err;
      }
      throw err;
    }
    return undefined;
  }

  private decode(bytes: Buffer): void {
    const len = bytes.length;
    let off = 0;
    while (off < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const partial = this.partial;
      if (partial !== undefined) {
        const n = Math.min(partial.length - this.filled, len - off);
        bytes.copy(partial, this.filled, off, off + n);
        this.filled += n;
        off += n;
        if (this.filled === partial.length) {
          this.partial = undefined;
          this.emit(partial, 0, partial.length);
        }
        continue;
      }
      if (this.headLen > 0 || len - off < HEADER_BYTES) {
        // The header itself is split across reads: gather its 10 bytes first.
        const n = Math.min(HEADER_BYTES - this.headLen, len - off);
        bytes.copy(this.head, this.headLen, off, off + n);
        this.headLen += n;
        off += n;
        if (this.headLen < HEADER_BYTES) return;
        this.headLen = 0;
        const total = this.begin(this.head, 0);
        if (total === 0) continue;
        if (total === HEADER_BYTES) {
          this.emit(Buffer.from(this.head), 0, HEADER_BYTES);
          continue;
        }
        this.partial = Buffer.allocUnsafe(total);
        this.head.copy(this.partial, 0);
        this.filled = HEADER_BYTES;
        continue;
      }
      const total = this.begin(bytes, off);
      if (total === 0) {
        off += HEADER_BYTES;
        continue;
      }
      if (len - off >= total) {
        this.emit(bytes, off, off + total);
        off += total;
        continue;
      }
      const partialFrame = Buffer.allocUnsafe(total);
      bytes.copy(partialFrame, 0, off, len);
      this.partial = partialFrame;
      this.filled = len - off;
      return;
    }
  }

  /**
   * Validates a header before any of its payload is buffered. Returns the frame's total size, or 0
   * when the frame is oversized and is being skipped (the handler was told).
   */
  private begin(buf: Buffer, at: number): number {
    const length = buf.readUInt32BE(at);
    const type = buf[at + 4] as number;
    const flags = buf[at + 5] as number;
    const streamId = buf.readUInt32BE(at + 6);
    if (length > LENGTH_LIMIT) throw protocolError(`Frame length ${length} has the reserved high bit set`);
    if (length < MIN_LENGTH) throw protocolError(`Frame length ${length} is shorter than a frame header`);
    switch (type) {
      case FrameType.HELLO:
      case FrameType.PING:
      case FrameType.PONG:
        if (streamId !== 0) throw protocolError(`Frame type ${type} must be on stream 0`);
        break;
      case FrameType.REQUEST:
      case FrameType.CHUNK:
      case FrameType.END:
      case FrameType.CANCEL:
      case FrameType.WINDOW:
        if (streamId === 0) throw protocolError(`Frame type ${type} must not be on stream 0`);
        break;
      case FrameType.ERROR:
        break;
      default:
        throw protocolError(`Unknown frame type ${type}`);
    }
    if (flags !== 0 && !(type === FrameType.CHUNK && flags === FrameFlags.END_STREAM)) {
      throw protocolError(`Frame type ${type} has undefined flags 0x${flags.toString(16)}`);
    }
    const fixed = FIXED_LENGTH[type];
    if (fixed !== undefined && length !== fixed) {
      throw protocolError(`Frame type ${type} has length ${length}; it must be ${fixed}`);
    }
    if (length > this.maxFrameBytes) {
      if (type === FrameType.REQUEST || type === FrameType.CHUNK) {
        this.skip = length - MIN_LENGTH;
        this.handler.oversized(type, streamId, length);
        return 0;
      }
      throw protocolError(`Frame of ${length} bytes is larger than the limit of ${this.maxFrameBytes}`);
    }
    return length + 4;
  }

  private emit(buf: Buffer, start: number, end: number): void {
    const type = buf[start + 4] as FrameType;
    const streamId = buf.readUInt32BE(start + 6);
    this.pos = start + HEADER_BYTES;
    this.end = end;
    switch (type) {
      case FrameType.REQUEST:
        this.handler.frame(this.request(buf, streamId));
        return;
      case FrameType.CHUNK: {
        const bodyKind = this.bodyKind(buf);
        this.handler.frame({
          type,
          streamId,
          last: buf[start + 5] === FrameFlags.END_STREAM,
          bodyKind,
          body: buf.subarray(this.pos, end),
        });
        return;
      }
      case FrameType.END:
      case FrameType.CANCEL:
        this.handler.frame({ type, streamId });
        return;
      case FrameType.ERROR:
        this.handler.frame(this.errorFrame(buf, streamId));
        return;
      case FrameType.PING:
      case FrameType.PONG:
        this.handler.frame({ type, streamId: 0, data: buf.subarray(this.pos, end) });
        return;
      case FrameType.WINDOW: {
        const increment = buf.readUInt32BE(this.pos);
        if (increment === 0 || increment > LENGTH_LIMIT) {
          throw protocolError(`WINDOW increment ${increment} is outside 1 … 2^31-1`);
        }
        this.handler.frame({ type, streamId, increment });
        return;
      }
      case FrameType.HELLO:
        this.handler.frame(this.hello(buf));
        return;
    }
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw protocolError(`Truncated frame: ${what} runs past the frame's end`);
  }

  private u16(buf: Buffer, what: string): number {
    this.need(2, what);
    const v = ((buf[this.pos] as number) << 8) | (buf[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  private str(buf: Buffer, what: string): string {
    const n = this.u16(buf, what);
    if (n === 0) return '';
    this.need(n, what);
    const s = buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  private bodyKind(buf: Buffer): BodyKind {
    this.need(1, 'body kind');
    const kind = buf[this.pos++] as number;
    if (kind !== BodyKind.json && kind !== BodyKind.raw) throw protocolError(`Unknown body kind ${kind}`);
    return kind;
  }

  private hello(buf: Buffer): HelloFrame {
    this.need(7, 'HELLO');
    const version = buf[this.pos++] as number;
    const maxFrameBytes = buf.readUInt32BE(this.pos);
    this.pos += 4;
    if (maxFrameBytes < MIN_MAX_FRAME_BYTES || maxFrameBytes > LENGTH_LIMIT) {
      throw protocolError(`HELLO announces maxFrameBytes ${maxFrameBytes}, outside 1024 … 2^31-1`);
    }
    const token = this.str(buf, 'HELLO token');
    if (this.pos !== this.end) throw protocolError('HELLO has trailing bytes');
    return { type: FrameType.HELLO, streamId: 0, version, maxFrameBytes, token };
  }

  private request(buf: Buffer, streamId: number): RequestFrame {
    this.need(15, 'REQUEST header');
    let p = this.pos;
    const hi = buf.readUInt32BE(p);
    if (hi > 0x1f_ffff) throw protocolError('REQUEST deadline is beyond the largest safe integer');
    const deadline = hi * TWO_32 + buf.readUInt32BE(p + 4);
    const window = buf.readUInt32BE(p + 8);
    this.pos = p + 12;
    const bodyKind = this.bodyKind(buf);
    const count = this.u16(buf, 'header count');
    this.route(buf);
    const namespace = this.routeNamespace;
    const component = this.routeComponent;
    const endpoint = this.routeEndpoint;
    const instanceId = this.str(buf, 'instance id');
    const requestId = this.str(buf, 'request id');
    let headers = EMPTY_HEADERS;
    if (count > 0) {
      const h: Record<string, string> = {};
      for (let i = 0; i < count; i++) {
        const name = this.str(buf, 'header name').toLowerCase();
        const value = this.str(buf, 'header value');
        // A plain object with an own `__proto__` key would change its prototype; keep such names inert.
        if (name === '__proto__') Object.defineProperty(h, name, { value, enumerable: true });
        else h[name] = value;
      }
      headers = h;
    }
    p = this.pos;
    return {
      type: FrameType.REQUEST,
      streamId,
      deadline,
      window,
      namespace,
      component,
      endpoint,
      instanceId,
      requestId,
      headers,
      bodyKind,
      body: buf.subarray(p, this.end),
    };
  }

  /** Reads a REQUEST's namespace, component and endpoint into the route fields. */
  private route(buf: Buffer): void {
    const start = this.pos;
    const a = this.u16(buf, 'namespace');
    this.need(a, 'namespace');
    this.pos += a;
    const b = this.u16(buf, 'component');
    this.need(b, 'component');
    this.pos += b;
    const c = this.u16(buf, 'endpoint');
    this.need(c, 'endpoint');
    this.pos += c;
    const end = this.pos;
    const cached = this.routeBytes;
    if (cached !== undefined && cached.length === end - start) {
      let same = true;
      for (let i = 0; i < cached.length; i++) {
        if (cached[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    let at = start + 2;
    this.routeNamespace = a === 0 ? '' : buf.toString('utf8', at, at + a);
    at += a + 2;
    this.routeComponent = b === 0 ? '' : buf.toString('utf8', at, at + b);
    at += b + 2;
    this.routeEndpoint = c === 0 ? '' : buf.toString('utf8', at, at + c);
    this.routeBytes = Buffer.from(buf.subarray(start, end));
  }

  private errorFrame(buf: Buffer, streamId: number): ErrorFrame {
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf.toString('utf8', this.pos, this.end));
    } catch {
      throw protocolError('ERROR payload is not valid JSON');
    }
    const { code, message } = (parsed ?? {}) as { code?: unknown; message?: unknown };
    if (typeof code !== 'string' || typeof message !== 'string') {
      throw protocolError('ERROR payload must be {"code": string, "message": string}');
    }
    return { type: FrameType.ERROR, streamId, code, message };
  }
}

/** Length fields the fixed-size frame types must declare. */
const FIXED_LENGTH: Readonly<Partial<Record<number, number>>> = {
  [FrameType.END]: MIN_LENGTH,
  [FrameType.CANCEL]: MIN_LENGTH,
  [FrameType.PING]: MIN_LENGTH + 8,
  [FrameType.PONG]: MIN_LENGTH + 8,
  [FrameType.WINDOW]: MIN_LENGTH + 4,
};
