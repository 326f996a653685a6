/**
 * One request/response exchange on the HTTP/2 server: it reads the request body of one stream
 * (with the size limit), hands the request to the endpoint registry, and is the
 * {@link ResponseSink} the registry writes to, turning chunks, the end and errors into HTTP/2
 * headers, DATA and trailers.
 *
 * The hot path allocates one `Exchange` per stream and no closures: stream listeners are shared
 * functions that find their exchange under a symbol on the stream. The small chunks of a streamed
 * response are encoded into one {@link ChunkBatch} and written together.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { EndpointRegistry } from '../../actors/endpoint-registry.js';
import { BodyKind, decodeBody } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { InflightRequest, ResponseSink, WireError } from '../../core/request-plane.js';
import { BATCH_BYTES, ChunkBatch } from './chunk-batch.js';
import {
  ContentTypes,
  END_FRAME,
  encodeChunk,
  encodeErrorFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  Http2Headers,
  httpStatusOf,
  percentEncode,
} from './codec.js';
import type { Http2Request } from './request.js';

const NONE: unique symbol = Symbol('none');
const kExchange: unique symbol = Symbol('warden.exchange');
const EMPTY_BODY = new Uint8Array(0);

/** A server stream with its exchange attached. */
type ExchangeStream = ServerHttp2Stream & { [kExchange]?: Exchange };

// Response headers are constants: node:http2 copies them (and adds `date`) on every respond().
const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ [Http2Headers.status]: 'ok' });
const FRAMED_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': ContentTypes.stream,
});
const NDJSON_STREAM_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': ContentTypes.ndjson,
});
const NDJSON_WHOLE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': ContentTypes.ndjson,
  [Http2Headers.status]: 'ok',
});
const RAW_WHOLE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': ContentTypes.raw,
  [Http2Headers.status]: 'ok',
});
const TRAILER_OPTIONS = Object.freeze({ waitForTrailers: true });
const END_STREAM_OPTIONS = Object.freeze({ endStream: true });

/** What the server hands each exchange. */
export interface ExchangeHost {
  readonly registry: EndpointRegistry;
  readonly maxMessageBytes: number;
  /** False once the server started to stop: a body that finishes arriving then is refused. */
  readonly accepting: boolean;
}

/** First chunks waiting for the end of the current tick, flushed by one shared microtask. */
let heldFirst: Exchange[] = [];
let flushQueued = false;

function flushHeld(): void {
  const batch = heldFirst;
  heldFirst = [];
  flushQueued = false;
  for (const ex of batch) ex.flushPending();
}

function onStreamData(this: ExchangeStream, data: Buffer): void {
  this[kExchange]?.onData(data);
}

function onStreamEnd(this: ExchangeStream): void {
  this[kExchange]?.onEnd();
}

function onStreamClose(this: ExchangeStream): void {
  this[kExchange]?.onClose();
}

function ignore(): void {}

function flushLater(ex: Exchange): void {
  ex.flushLater();
}

/** Chunks that may take more bytes than this are written on their own, not copied into a batch. */
const SMALL_CHUNK_BYTES = 4096;

/**
 * Sends an error before any chunk: the HTTP status, `warden-error-code`, and `{ code, message }` as
 * JSON. When the request body may still be arriving, the stream is then reset with `NO_ERROR` so the
 * client stops sending (RFC 9113 §8.1); the session is untouched.
 */
export function respondError(
  stream: ServerHttp2Stream,
  err: WireError,
  status = httpStatusOf(err.code),
): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = JSON.stringify({ code: err.code, message: err.message });
  const headers: OutgoingHttpHeaders = {
    ':status': status,
    'content-type': ContentTypes.json,
    [Http2Headers.errorCode]: err.code,
  };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  stream.respond(headers);
  stream.end(body);
  if (!stream.endAfterHeaders && !stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
}

/**
 * One request and its response. The first chunk is held until the end of the current tick: a
 * unary handler's result and its end then leave as one HEADERS + DATA(END_STREAM), with
 * `warden-status: ok` in the headers; a stream sends headers and the chunk at once and continues.
 * Back-pressure: `chunk` returns a promise while the HTTP/2 stream's buffer is full, settled on
 * `'drain'` or when the stream closes.
 */
export class Exchange implements ResponseSink {
  private inflight: InflightRequest | undefined = undefined;
  private head: Http2Request | undefined = undefined;
  private parts: Buffer[] | undefined = undefined;
  private size = 0;
  private finished = false;
  private closed = false;
  private streaming = false;
  /** The client asked for `application/vnd.warden.stream`. */
  private framed = false;
  /** The held first chunk, encoded (JSON text or raw bytes), or NONE. */
  private pending: string | Uint8Array | typeof NONE = NONE;
  private trailerError: WireError | undefined = undefined;
  private drainWaiter: (() => void) | undefined = undefined;
  /** The small chunks of a streamed response not yet handed to the stream (made on first use). */
  private batch: ChunkBatch | undefined = undefined;
  /** A flush of the batch is scheduled for the next turn of the event loop. */
  private flushScheduled = false;

  /** Attaches an exchange to a new stream; it counts in `session.inflight` until the stream closes. */
  constructor(
    private readonly host: ExchangeHost,
    private readonly stream: ServerHttp2Stream,
    private readonly session: { inflight: number },
  ) {
    (stream as ExchangeStream)[kExchange] = this;
    session.inflight++;
    stream.on('error', ignore);
    // 'close' and 'end' come once: plain listeners, no once() wrappers per stream.
    stream.on('close', onStreamClose);
  }

  /** Answers with an error before reading the body (bad route, auth, limits). */
  reject(code: WireError['code'], message: string, status?: number): void {
    this.finished = true;
    respondError(this.stream, { code, message }, status);
  }

  /** Reads the body, then dispatches the request to the registry. */
  read(head: Http2Request, framed: boolean): void {
    this.head = head;
    this.framed = framed;
    this.stream.on('data', onStreamData);
    this.stream.on('end', onStreamEnd);
  }

  onData(data: Buffer): void {
    if (this.finished) return;
    this.size += data.length;
    if (this.size > this.host.maxMessageBytes) {
      this.parts = undefined;
      // Keep discarding what still arrives until the reset reaches the client.
      this.reject(
        'WARDEN_MESSAGE_TOO_LARGE',
        `The request body (${this.size} bytes or more) is larger than the limit of ${this.host.maxMessageBytes} bytes`,
      );
      return;
    }
    if (this.parts === undefined) this.parts = [data];
    else this.parts.push(data);
  }

  onEnd(): void {
    if (this.finished || this.closed) return;
    const head = this.head as Http2Request;
    const parts = this.parts;
    const raw =
      parts === undefined ? undefined : parts.length === 1 ? parts[0] : Buffer.concat(parts, this.size);
    this.parts = undefined;
    let body: unknown;
    try {
      // A raw body reaches the handler as a plain Uint8Array view; JSON is parsed from the Buffer.
      body =
        raw === undefined
          ? decodeBody(head.kind, EMPTY_BODY)
          : decodeBody(
              head.kind,
              head.kind === BodyKind.raw ? new Uint8Array(raw.buffer, raw.byteOffset, raw.length) : raw,
            );
    } catch (err) {
      this.reject('WARDEN_PROTOCOL_ERROR', messageOf(err), 400);
      return;
    }
    if (!this.host.accepting) {
      this.reject('WARDEN_SERVER_NOT_RUNNING', 'The server is stopping and takes no new requests');
      return;
    }
    head.body = body;
    this.inflight = this.host.registry.dispatch(head, this, this.size);
  }

  /** The stream closed (ended, reset by the peer, or its session went away). */
  onClose(): void {
    this.closed = true;
    this.session.inflight--;
    if (!this.finished) this.inflight?.cancel();
    this.releaseDrain();
  }

  chunk(value: unknown, last?: boolean): void | Promise<void> {
    if (this.finished || this.closed) return;
    const payload = this.checkSize(encodeChunk(value));
    const registry = this.host.registry;
    if (registry.countsBytes)
      registry.sent(this.inflight, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
    if (!this.streaming) {
      if (this.pending === NONE) {
        this.pending = payload;
        // The registry says end() follows at once (a unary result): nothing to wait for.
        if (last === true) return;
        heldFirst.push(this);
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flushHeld);
        }
        return;
      }
      this.startStream();
    }
    return this.write(payload);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    const stream = this.stream;
    if (this.closed || stream.destroyed) return;
    if (this.streaming) {
      this.finishStream(this.framed ? END_FRAME : undefined);
      return;
    }
    const payload = this.pending;
    this.pending = NONE;
    if (this.framed) {
      stream.respond(FRAMED_HEADERS);
      stream.end(payload === NONE ? END_FRAME : encodeFrame(payload, END_FRAME));
    } else if (payload === NONE) {
      stream.respond(NDJSON_WHOLE_HEADERS, END_STREAM_OPTIONS);
    } else if (typeof payload === 'string') {
      stream.respond(NDJSON_WHOLE_HEADERS);
      stream.end(`${payload}\n`);
    } else {
      stream.respond(RAW_WHOLE_HEADERS);
      stream.end(payload);
    }
  }

  error(err: WireError): void {
    if (this.finished) return;
    this.finished = true;
    const stream = this.stream;
    if (this.closed || stream.destroyed) return;
    // A chunk is held: it was produced, so it is sent, and the error follows it mid-stream.
    if (!this.streaming && this.pending !== NONE) this.startStream();
    if (!this.streaming) {
      respondError(stream, err);
      return;
    }
    if (this.framed) {
      this.finishStream(encodeErrorFrame(err));
    } else {
      this.trailerError = err;
      this.finishStream(undefined);
    }
  }

  /** Writes the chunks encoded since the last turn of the event loop (one write for all of them). */
  flushLater(): void {
    this.flushScheduled = false;
    if (this.finished || this.stream.destroyed) return;
    const rest = this.batch?.take();
    if (rest !== undefined) this.stream.write(rest);
  }

  /** Runs after the tick of the first chunk: if the handler has not ended by then, it streams. */
  flushPending(): void {
    if (!this.streaming && !this.finished && !this.closed && this.pending !== NONE) this.startStream();
  }

  /** Sends the response headers of a stream, then the held first chunk. */
  private startStream(): void {
    this.streaming = true;
    const stream = this.stream;
    const first = this.pending;
    this.pending = NONE;
    if (stream.destroyed) return;
    // A stream of raw bytes cannot travel as NDJSON: it is framed whatever the client asked for.
    if (!this.framed && first instanceof Uint8Array) this.framed = true;
    if (this.framed) {
      stream.respond(FRAMED_HEADERS);
    } else {
      stream.respond(NDJSON_STREAM_HEADERS, TRAILER_OPTIONS);
      stream.once('wantTrailers', () => {
        const err = this.trailerError;
        stream.sendTrailers(
          err === undefined
            ? OK_TRAILERS
            : {
                [Http2Headers.status]: 'error',
                [Http2Headers.errorCode]: err.code,
                [Http2Headers.errorMessage]: percentEncode(err.message),
              },
        );
      });
    }
    // The first chunk's back-pressure is not awaited: the next chunk's write reports it.
    if (first !== NONE) void this.write(first);
  }

  /**
   * Sends one chunk of a streamed response. Small chunks are encoded straight into the batch and
   * leave together, one write per turn of the event loop (or per {@link BATCH_BYTES}); a large one
   * is written on its own, after the batch. Returns a promise while the stream is back-pressured.
   */
  private write(payload: string | Uint8Array): void | Promise<void> {
    const stream = this.stream;
    if (stream.destroyed) return;
    const text = typeof payload === 'string';
    if (!this.framed && !text) {
      throw new WardenError(
        'WARDEN_PROTOCOL_ERROR',
        `A raw chunk cannot follow JSON chunks in an ${ContentTypes.ndjson} response; send 'accept: ${ContentTypes.stream}' to receive mixed chunks`,
      );
    }
    // The most bytes the chunk can take: UTF-8 needs at most 3 bytes per UTF-16 unit.
    const most = (text ? payload.length * 3 : payload.length) + FRAME_HEADER_BYTES;
    let ok = true;
    if (most > SMALL_CHUNK_BYTES) {
      const rest = this.batch?.take();
      if (rest !== undefined) stream.write(rest);
      ok = stream.write(this.framed ? encodeFrame(payload) : `${payload as string}\n`);
    } else {
      this.batch ??= new ChunkBatch();
      const batch = this.batch;
      if (!batch.fits(most)) {
        const rest = batch.renew();
        if (rest !== undefined) stream.write(rest);
      }
      batch.append(payload, this.framed);
      if (batch.length >= BATCH_BYTES) {
        ok = stream.write(batch.take() as Buffer);
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(flushLater, this);
      }
      // Bytes written in an earlier turn are still waiting for the peer's flow-control window.
      if (stream.writableNeedDrain) ok = false;
    }
    if (ok) return;
    return new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
      stream.once('drain', () => this.releaseDrain());
    });
  }

  /** Ends a streamed response: what the batch still holds, then `last` (the end or an error frame). */
  private finishStream(last: Buffer | undefined): void {
    const stream = this.stream;
    const batch = this.batch;
    if (last !== undefined && batch?.tryAppendBytes(last) === true) last = undefined;
    const rest = batch?.take();
    if (rest !== undefined && last !== undefined) stream.write(rest);
    const tail = last ?? rest;
    if (tail === undefined) stream.end();
    else stream.end(tail);
  }

  private releaseDrain(): void {
    const waiter = this.drainWaiter;
    if (waiter === undefined) return;
    this.drainWaiter = undefined;
    waiter();
  }

  /** Refuses a chunk above the limit; a JSON text's length is a lower bound of its UTF-8 size. */
  private checkSize(payload: string | Uint8Array): string | Uint8Array {
    if (payload.length > this.host.maxMessageBytes) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk of ${payload.length} bytes is larger than the limit of ${this.host.maxMessageBytes} bytes`,
      );
    }
    return payload;
  }
}
