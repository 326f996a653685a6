/**
 * One call of the HTTP/2 client: it sends the request on its session and reads the response in
 * whichever format the server chose (framed, NDJSON with trailers, or a whole body), feeding the
 * {@link ResponseStream} it is.
 */
import {
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { type CallDriver, ResponseStream } from '../../actors/response-stream.js';
import { jsonText } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, WireError } from '../../core/request-plane.js';
import {
  ContentTypes,
  codeOfHttpStatus,
  endpointUrlPath,
  FrameDecoder,
  FrameKind,
  type FrameSink,
  Http2Headers,
  parseJsonPayload,
  parseWireError,
  percentDecode,
  rawView,
} from './codec.js';
import type { SessionRecord } from './session.js';

/** What a call needs from its client. */
export interface CallHost {
  /** True once the client was closed: no new call starts. */
  readonly closed: boolean;
  /** `Bearer <token>`, when a token was given. */
  readonly authorization: string | undefined;
  /** Largest response chunk accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** The live session to `address`, opened on first use. */
  sessionFor(address: string): SessionRecord;
}

/** A request body as JSON text, or raw bytes; a value JSON cannot encode is `WARDEN_INVALID_REQUEST`. */
function encodeRequestBody(body: unknown): string | Uint8Array {
  return body instanceof Uint8Array ? body : jsonText(body, 'request');
}

const kCall: unique symbol = Symbol('warden.call');
/** A client stream with its call attached. */
type CallStream = ClientHttp2Stream & { [kCall]?: Http2Call };

// Shared listeners: no closures per call; each finds its call under a symbol on the stream.
function onStreamResponse(this: CallStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  this[kCall]?.onResponse(headers);
}
function onStreamData(this: CallStream, chunk: Buffer): void {
  this[kCall]?.onData(chunk);
}
function onStreamTrailers(this: CallStream, trailers: IncomingHttpHeaders): void {
  this[kCall]?.onTrailers(trailers);
}
function onStreamEnd(this: CallStream): void {
  this[kCall]?.onEnd();
}
function onStreamError(this: CallStream, err: Error): void {
  this[kCall]?.onError(err);
}
function onStreamClose(this: CallStream): void {
  this[kCall]?.onClose();
}
const REQUEST_OPTIONS = Object.freeze({ endStream: false });

const MODE_NONE = 0;
const MODE_FRAMED = 1;
const MODE_NDJSON = 2;
/** The whole body is one value (`application/octet-stream`, `application/json`) or an error body. */
const MODE_WHOLE = 3;

/**
 * One call: its {@link ResponseStream} and that stream's own {@link CallDriver} (one object per call,
 * no closures). It sends the request and feeds the response from the HTTP/2 stream's events.
 */
export class Http2Call extends ResponseStream implements CallDriver, FrameSink {
  stream: ClientHttp2Stream | undefined = undefined;
  record: SessionRecord | undefined = undefined;
  /** Neighbours in the session's list of calls in flight, and whether this call is in it. */
  prevCall: Http2Call | undefined = undefined;
  nextCall: Http2Call | undefined = undefined;
  listed = false;
  private mode = MODE_NONE;
  private status = 0;
  private contentType = '';
  private decoder: FrameDecoder | undefined = undefined;
  private parts: Buffer[] | undefined = undefined;
  private size = 0;
  private settled = false;
  private okInHeaders = false;
  private trailers: IncomingHttpHeaders | undefined = undefined;
  private streamError: Error | undefined = undefined;

  constructor(
    private readonly client: CallHost,
    private readonly target: CallTarget,
    private readonly body: unknown,
    private readonly callOptions: CallOptions,
    highWaterMark: number,
  ) {
    super(callOptions, highWaterMark);
    this.attach(this);
  }

  send(): void {
    if (this.client.closed) {
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'The HTTP/2 client was closed; create a new one');
    }
    // JSON goes through Buffer.from (pooled memory): measured cheaper than handing node:http2 the
    // string (writeUtf8String) and than TextEncoder (a new ArrayBuffer per call).
    const payload = encodeRequestBody(this.body);
    const raw = typeof payload !== 'string';
    const record = this.client.sessionFor(this.target.address);
    const target = this.target;
    const extra = this.callOptions.headers;
    let headers: OutgoingHttpHeaders;
    if (extra === undefined) {
      headers = {
        ':method': 'POST',
        ':path': endpointUrlPath(target.namespace, target.component, target.endpoint),
        'content-type': raw ? ContentTypes.raw : ContentTypes.json,
        accept: ContentTypes.stream,
      };
    } else {
      // The caller's headers first, so that the protocol's own (and pseudo-headers) cannot be overridden.
      headers = {};
      for (const name in extra) {
        const lower = name.toLowerCase();
        if (lower.charCodeAt(0) !== 58 /* ':' */) headers[lower] = extra[name];
      }
      headers[':method'] = 'POST';
      headers[':path'] = endpointUrlPath(target.namespace, target.component, target.endpoint);
      headers['content-type'] = raw ? ContentTypes.raw : ContentTypes.json;
      headers.accept = ContentTypes.stream;
    }
    if (target.instanceId) headers[Http2Headers.instanceId] = target.instanceId;
    const deadline = this.deadline;
    if (deadline !== undefined) headers[Http2Headers.timeoutMs] = String(Math.max(0, deadline - Date.now()));
    const auth = this.client.authorization;
    if (auth !== undefined) headers.authorization = auth;

    this.record = record;
    record.add(this);
    let stream: ClientHttp2Stream;
    try {
      stream = record.session.request(headers, REQUEST_OPTIONS);
    } catch (err) {
      record.remove(this);
      throw new WardenError(
        'WARDEN_CONNECTION_FAILED',
        `Could not start an HTTP/2 request: ${messageOf(err)}`,
        {
          cause: err,
        },
      );
    }
    this.stream = stream;
    (stream as CallStream)[kCall] = this;
    stream.on('response', onStreamResponse);
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    stream.end(raw ? payload : Buffer.from(payload));
  }

  cancel(): void {
    this.settle();
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }

  pause(paused: boolean): void {
    const stream = this.stream;
    if (stream === undefined || stream.destroyed) return;
    if (paused) stream.pause();
    else stream.resume();
  }

  /** The session died under this call. */
  lost(err: WireError): void {
    if (this.settled) return;
    this.settle();
    this.error(err);
  }

  onTrailers(trailers: IncomingHttpHeaders): void {
    this.trailers = trailers;
  }

  /** The outcome is decided in 'close'; the error explains it. */
  onError(err: Error): void {
    this.streamError = err;
  }

  onResponse(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    this.status = headers[':status'] ?? 0;
    const type = headers['content-type'] ?? '';
    this.contentType = type;
    if (this.status !== 200) {
      this.mode = MODE_WHOLE;
      this.parts = [];
    } else if (type.startsWith(ContentTypes.stream)) {
      this.mode = MODE_FRAMED;
      this.decoder = new FrameDecoder(this.client.maxMessageBytes);
    } else if (type.startsWith(ContentTypes.ndjson)) {
      this.mode = MODE_NDJSON;
      // Only NDJSON responses end with trailers.
      (this.stream as ClientHttp2Stream).on('trailers', onStreamTrailers);
      this.okInHeaders = headers[Http2Headers.status] === 'ok';
      this.parts = [];
    } else {
      this.mode = MODE_WHOLE;
      this.okInHeaders = true;
      this.parts = [];
    }
  }

  onData(chunk: Buffer): void {
    if (this.settled) return;
    try {
      if (this.mode === MODE_FRAMED) {
        (this.decoder as FrameDecoder).push(chunk, this);
      } else if (this.mode === MODE_NDJSON) {
        this.ndjson(chunk);
      } else {
        this.size += chunk.length;
        if (this.size > this.client.maxMessageBytes) {
          throw new WardenError(
            'WARDEN_MESSAGE_TOO_LARGE',
            `The response is larger than the limit of ${this.client.maxMessageBytes} bytes`,
          );
        }
        (this.parts as Buffer[]).push(chunk);
      }
    } catch (err) {
      this.failAndReset(err);
    }
  }

  frame(kind: number, payload: Buffer): void {
    if (this.settled) return;
    switch (kind) {
      case FrameKind.json:
        this.push(parseJsonPayload(payload));
        return;
      case FrameKind.raw:
        this.push(rawView(payload));
        return;
      case FrameKind.end:
        this.settle();
        this.end();
        return;
      case FrameKind.error:
        this.settle();
        this.error(parseWireError(payload, 'WARDEN_HANDLER_ERROR'));
        return;
      default:
        throw new WardenError('WARDEN_PROTOCOL_ERROR', `Unknown frame kind ${kind} in the response`);
    }
  }

  private ndjson(chunk: Buffer): void {
    const parts = this.parts as Buffer[];
    let start = 0;
    let nl = chunk.indexOf(10);
    while (nl !== -1) {
      let line: Buffer = chunk.subarray(start, nl);
      if (parts.length > 0) {
        parts.push(line);
        line = Buffer.concat(parts);
        parts.length = 0;
        this.size = 0;
      }
      if (line.length > 0) this.push(parseJsonPayload(line));
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      this.size += chunk.length - start;
      if (this.size > this.client.maxMessageBytes) {
        throw new WardenError(
          'WARDEN_MESSAGE_TOO_LARGE',
          `A response line is larger than the limit of ${this.client.maxMessageBytes} bytes`,
        );
      }
    }
  }

  onEnd(): void {
    // No response headers: the stream ended with its connection; 'close' decides.
    if (this.settled || this.status === 0) return;
    try {
      this.finishBody();
    } catch (err) {
      this.failAndReset(err);
    }
  }

  private finishBody(): void {
    const parts = this.parts ?? [];
    const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (this.mode === MODE_FRAMED) {
      this.settle();
      this.error({
        code: 'WARDEN_PROTOCOL_ERROR',
        message: 'The response ended without an end or error frame',
      });
      return;
    }
    if (this.status !== 200) {
      this.settle();
      this.error(parseWireError(body, codeOfHttpStatus(this.status)));
      return;
    }
    if (this.mode === MODE_NDJSON) {
      if (body.length > 0) this.push(parseJsonPayload(body));
      const trailers = this.trailers;
      const status = trailers?.[Http2Headers.status] ?? (this.okInHeaders ? 'ok' : undefined);
      this.settle();
      if (status === 'ok') {
        this.end();
        return;
      }
      const code = trailers?.[Http2Headers.errorCode];
      const message = trailers?.[Http2Headers.errorMessage];
      this.error(
        status === 'error' && typeof code === 'string'
          ? parseWireError(
              JSON.stringify({ code, message: typeof message === 'string' ? percentDecode(message) : code }),
              'WARDEN_HANDLER_ERROR',
            )
          : { code: 'WARDEN_PROTOCOL_ERROR', message: 'The response ended without a warden-status' },
      );
      return;
    }
    // A whole body: raw bytes, or one JSON value.
    this.settle();
    const type = this.contentType;
    if (type.startsWith(ContentTypes.raw)) this.push(rawView(body));
    else if (body.length > 0) this.push(parseJsonPayload(body));
    this.end();
  }

  onClose(): void {
    const record = this.record as SessionRecord;
    record.remove(this);
    if (this.settled) return;
    this.settle();
    if (!record.connected || record.session.destroyed) {
      this.error(record.lost(this.streamError));
      return;
    }
    this.error({
      code: 'WARDEN_CONNECTION_CLOSED',
      message: `The server reset the HTTP/2 stream (code ${(this.stream as ClientHttp2Stream).rstCode}) before the response ended`,
    });
  }

  private failAndReset(err: unknown): void {
    const wire: WireError =
      err instanceof WardenError ? err.toWire() : { code: 'WARDEN_PROTOCOL_ERROR', message: messageOf(err) };
    this.settle();
    this.error(wire);
    const stream = this.stream;
    if (stream !== undefined && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }

  private settle(): void {
    this.settled = true;
  }
}
