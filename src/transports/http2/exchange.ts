/**
 * One request/response exchange on the HTTP/2 server: it reads the request body of one stream
 * (with the size limit), hands the request to the endpoint registry, and is the
 * {@link ResponseSink} the registry writes to, turning chunks, the end and errors into HTTP/2
 * headers, DATA and trailers.
 *
 * The hot path allocates one `Exchange` per stream and no closures: stream listeners are shared
 * functions that find their exchange under a symbol on the stream.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { EndpointRegistry } from '../../actors/endpoint-registry.js';
import { decodeBody } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { InboundRequest, InflightRequest, ResponseSink, WireError } from '../../core/request-plane.js';
import {
  ContentTypes,
  END_FRAME,
  encodeChunk,
  encodeErrorFrame,
  encodeFrame,
  Http2Headers,
  httpStatusOf,
  percentEncode,
} from './codec.js';

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

/** The request as the server decoded its headers; `body` is filled in once it has arrived. */
export interface RequestHead extends InboundRequest {
  namespace: string;
  component: string;
  endpoint: string;
  instanceId: string | undefined;
  requestId: string;
  deadline: number | undefined;
  headers: Record<string, string>;
  body: unknown;
  /** 0 = JSON body, 1 = raw body (see `BodyKind`). */
  kind: number;
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

function uncork(ex: Exchange): void {
  ex.uncork();
}

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
  private head: RequestHead | undefined = undefined;
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
  /** Writes are corked until the next turn of the event loop. */
  corked = false;

  /** Attaches an exchange to a new stream; it counts in `session.inflight` until the stream closes. */
  constructor(
    private readonly host: ExchangeHost,
    private readonly stream: ServerHttp2Stream,
    private readonly session: { inflight: number },
  ) {
    (stream as ExchangeStream)[kExchange] = this;
    session.inflight++;
    stream.on('error', ignore);
    stream.once('close', onStreamClose);
  }

  /** Answers with an error before reading the body (bad route, auth, limits). */
  reject(code: WireError['code'], message: string, status?: number): void {
    this.finished = true;
    respondError(this.stream, { code, message }, status);
  }

  /** Reads the body, then dispatches the request to the registry. */
  read(head: RequestHead, framed: boolean): void {
    this.head = head;
    this.framed = framed;
    this.stream.on('data', onStreamData);
    this.stream.once('end', onStreamEnd);
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
    const head = this.head as RequestHead;
    const parts = this.parts;
    const raw =
      parts === undefined ? undefined : parts.length === 1 ? parts[0] : Buffer.concat(parts, this.size);
    this.parts = undefined;
    let body: unknown;
    try {
      body =
        raw === undefined
          ? decodeBody(head.kind, EMPTY_BODY)
          : decodeBody(head.kind, new Uint8Array(raw.buffer, raw.byteOffset, raw.length));
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

  chunk(value: unknown): void | Promise<void> {
    if (this.finished || this.closed) return;
    const payload = this.checkSize(encodeChunk(value));
    const registry = this.host.registry;
    if (registry.countsBytes)
      registry.sent(this.inflight, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
    if (!this.streaming) {
      if (this.pending === NONE) {
        this.pending = payload;
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
      if (this.framed) stream.end(END_FRAME);
      else stream.end();
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
    } else if (this.framed) {
      stream.end(encodeErrorFrame(err));
    } else {
      this.trailerError = err;
      stream.end();
    }
  }

  /** Flushes the chunks written since the last turn of the event loop. */
  uncork(): void {
    this.corked = false;
    if (!this.stream.destroyed) this.stream.uncork();
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

  private write(payload: string | Uint8Array): void | Promise<void> {
    const stream = this.stream;
    if (stream.destroyed) return;
    let data: Buffer | string;
    if (this.framed) {
      data = encodeFrame(payload);
    } else if (typeof payload === 'string') {
      data = `${payload}\n`;
    } else {
      throw new WardenError(
        'WARDEN_PROTOCOL_ERROR',
        `A raw chunk cannot follow JSON chunks in an ${ContentTypes.ndjson} response; send 'accept: ${ContentTypes.stream}' to receive mixed chunks`,
      );
    }
    // Coalesce the chunks of one turn of the event loop into one write (node:http2 implements _writev).
    if (!this.corked) {
      this.corked = true;
      stream.cork();
      setImmediate(uncork, this);
    }
    if (stream.write(data)) return;
    return new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
      stream.once('drain', () => this.releaseDrain());
    });
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
