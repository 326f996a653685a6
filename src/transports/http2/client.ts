import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { z } from 'zod';
import { type CallDriver, collect, ResponseStream } from '../../actors/response-stream.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, RequestPlaneClient, WireError } from '../../core/request-plane.js';
import { parseOptions } from '../../core/validate.js';
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

/** TLS settings of an HTTP/2 client (for `https://` addresses). */
export interface Http2ClientTlsOptions {
  /** CAs to trust (PEM) instead of the system's, e.g. for a self-signed server certificate. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  /** Client certificate (PEM), for servers that require one. */
  readonly cert?: string | Uint8Array;
  /** Client private key (PEM). */
  readonly key?: string | Uint8Array;
  /** Server name to verify the certificate against, when it differs from the address's host. */
  readonly servername?: string;
  /** Verify the server's certificate; default true. */
  readonly rejectUnauthorized?: boolean;
}

/** Options of {@link createHttp2Client}. */
export interface Http2ClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** TLS settings for `https://` addresses. */
  readonly tls?: Http2ClientTlsOptions;
  /** Largest response chunk accepted, in bytes; default 16 MiB. */
  readonly maxMessageBytes?: number;
  /** Chunks queued for a slow reader before the HTTP/2 stream is paused; default 64. */
  readonly highWaterMark?: number;
}

const bytes = z.union([z.string().min(1), z.instanceof(Uint8Array)]);

/** The zod schema of {@link Http2ClientOptions}. */
export const Http2ClientOptionsSchema = z.object({
  token: z.string().min(1).optional(),
  tls: z
    .object({
      ca: z.union([bytes, z.array(bytes)]).optional(),
      cert: bytes.optional(),
      key: bytes.optional(),
      servername: z.string().min(1).optional(),
      rejectUnauthorized: z.boolean().optional(),
    })
    .optional(),
  maxMessageBytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 32 - 1)
    .default(16 * 1024 * 1024),
  highWaterMark: z.number().int().min(2).default(64),
});

type ParsedOptions = z.output<typeof Http2ClientOptionsSchema>;

/** A request body as JSON text, or raw bytes; a value JSON cannot encode is `WARDEN_INVALID_REQUEST`. */
function encodeRequestBody(body: unknown): string | Uint8Array {
  if (body instanceof Uint8Array) return body;
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch (err) {
    throw new WardenError(
      'WARDEN_INVALID_REQUEST',
      `The request body cannot be encoded as JSON: ${messageOf(err)}`,
      {
        cause: err,
      },
    );
  }
  return text ?? 'null';
}

const toBuffer = (v: string | Uint8Array): string | Buffer =>
  typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.length);

/** One HTTP/2 session to one address, with the calls in flight on it. */
class SessionRecord {
  connected = false;
  error: Error | undefined = undefined;
  readonly calls = new Set<Http2Call>();

  constructor(readonly session: ClientHttp2Session) {}

  /** Why calls on this session fail once it is gone; `fallback` explains it when the session has no error. */
  lost(fallback?: Error): WireError {
    const cause = this.error ?? fallback;
    const detail = cause ? `: ${messageOf(cause)}` : '';
    return this.connected
      ? {
          code: 'WARDEN_CONNECTION_CLOSED',
          message: `The HTTP/2 connection closed before the response ended${detail}`,
        }
      : { code: 'WARDEN_CONNECTION_FAILED', message: `Could not open an HTTP/2 connection${detail}` };
  }

  add(call: Http2Call): void {
    this.calls.add(call);
    // An idle session must not keep the process alive; one with calls in flight must.
    if (this.calls.size === 1) this.session.ref();
  }

  remove(call: Http2Call): void {
    if (this.calls.delete(call) && this.calls.size === 0 && !this.session.destroyed) this.session.unref();
  }
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
 * The client side of one call: the {@link CallDriver} of its {@link ResponseStream}; it sends the
 * request and feeds the response stream from the HTTP/2 stream's events.
 */
class Http2Call implements CallDriver, FrameSink {
  stream: ClientHttp2Stream | undefined = undefined;
  record: SessionRecord | undefined = undefined;
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
    private readonly client: Http2Client,
    private readonly out: ResponseStream,
    private readonly target: CallTarget,
    private readonly body: unknown,
    private readonly opts: CallOptions,
  ) {}

  send(): void {
    if (this.client.closed) {
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'The HTTP/2 client was closed; create a new one');
    }
    // JSON goes through Buffer.from (pooled memory), not TextEncoder (a new ArrayBuffer per call).
    const payload = encodeRequestBody(this.body);
    const raw = typeof payload !== 'string';
    const data = raw ? payload : Buffer.from(payload);
    const record = this.client.sessionFor(this.target.address);
    const target = this.target;
    const extra = this.opts.headers;
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
    const deadline = this.out.deadline;
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
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    stream.end(data);
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
    this.out.error(err);
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
        this.out.push(parseJsonPayload(payload));
        return;
      case FrameKind.raw:
        this.out.push(rawView(payload));
        return;
      case FrameKind.end:
        this.settle();
        this.out.end();
        return;
      case FrameKind.error:
        this.settle();
        this.out.error(parseWireError(payload, 'WARDEN_HANDLER_ERROR'));
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
      if (line.length > 0) this.out.push(parseJsonPayload(line));
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
      this.out.error({
        code: 'WARDEN_PROTOCOL_ERROR',
        message: 'The response ended without an end or error frame',
      });
      return;
    }
    if (this.status !== 200) {
      this.settle();
      this.out.error(parseWireError(body, codeOfHttpStatus(this.status)));
      return;
    }
    if (this.mode === MODE_NDJSON) {
      if (body.length > 0) this.out.push(parseJsonPayload(body));
      const trailers = this.trailers;
      const status = trailers?.[Http2Headers.status] ?? (this.okInHeaders ? 'ok' : undefined);
      this.settle();
      if (status === 'ok') {
        this.out.end();
        return;
      }
      const code = trailers?.[Http2Headers.errorCode];
      const message = trailers?.[Http2Headers.errorMessage];
      this.out.error(
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
    if (type.startsWith(ContentTypes.raw)) this.out.push(rawView(body));
    else if (body.length > 0) this.out.push(parseJsonPayload(body));
    this.out.end();
  }

  onClose(): void {
    const record = this.record as SessionRecord;
    record.remove(this);
    if (this.settled) return;
    this.settle();
    if (!record.connected || record.session.destroyed) {
      this.out.error(record.lost(this.streamError));
      return;
    }
    this.out.error({
      code: 'WARDEN_CONNECTION_CLOSED',
      message: `The server reset the HTTP/2 stream (code ${(this.stream as ClientHttp2Stream).rstCode}) before the response ended`,
    });
  }

  private failAndReset(err: unknown): void {
    const wire: WireError =
      err instanceof WardenError ? err.toWire() : { code: 'WARDEN_PROTOCOL_ERROR', message: messageOf(err) };
    this.settle();
    this.out.error(wire);
    const stream = this.stream;
    if (stream !== undefined && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }

  private settle(): void {
    this.settled = true;
  }
}

/**
 * A request-plane client over HTTP/2. It keeps one HTTP/2 session per address and multiplexes
 * every call on it as a stream; a session that failed or received GOAWAY is replaced on the next
 * call. Idle sessions do not keep the process alive. Create it with {@link createHttp2Client}.
 */
export class Http2Client implements RequestPlaneClient {
  /** `Bearer <token>`, when a token was given. */
  readonly authorization: string | undefined;
  /** Largest response chunk accepted, in bytes. */
  readonly maxMessageBytes: number;
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly all = new Set<SessionRecord>();
  private closedFlag = false;

  /** Use {@link createHttp2Client}; options are validated there. */
  constructor(private readonly options: ParsedOptions) {
    this.authorization = options.token === undefined ? undefined : `Bearer ${options.token}`;
    this.maxMessageBytes = options.maxMessageBytes;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Streams the chunks of one call; errors arrive as `WardenError` with the server's code. */
  call(target: CallTarget, body: unknown, opts: CallOptions = {}): ResponseStream {
    const out = new ResponseStream(opts, this.options.highWaterMark);
    return out.attach(new Http2Call(this, out, target, body, opts));
  }

  /** One result: the single chunk of a unary response (an array if it streamed several). */
  request(target: CallTarget, body: unknown, opts?: CallOptions): Promise<unknown> {
    return collect(this.call(target, body, opts));
  }

  /** Ends calls in flight with `WARDEN_CLIENT_CLOSED` and closes every session; later calls are refused. */
  async close(): Promise<void> {
    this.closedFlag = true;
    const records = [...this.all];
    this.sessions.clear();
    await Promise.all(
      records.map(
        (record) =>
          new Promise<void>((resolve) => {
            for (const call of [...record.calls]) {
              call.lost({
                code: 'WARDEN_CLIENT_CLOSED',
                message: 'The HTTP/2 client was closed during the call',
              });
              call.cancel();
            }
            const session = record.session;
            if (session.destroyed) {
              resolve();
              return;
            }
            session.once('close', () => resolve());
            session.close();
          }),
      ),
    );
  }

  /** The live session to `address`, opened on first use or after the previous one went away. */
  sessionFor(address: string): SessionRecord {
    const existing = this.sessions.get(address);
    if (existing !== undefined) {
      if (!existing.session.closed && !existing.session.destroyed) return existing;
      this.all.delete(existing);
    }
    const tls = this.options.tls;
    const options: SecureClientSessionOptions = {};
    if (tls !== undefined && address.startsWith('https:')) {
      if (tls.ca !== undefined)
        options.ca = Array.isArray(tls.ca) ? tls.ca.map(toBuffer) : toBuffer(tls.ca as string);
      if (tls.cert !== undefined) options.cert = toBuffer(tls.cert);
      if (tls.key !== undefined) options.key = toBuffer(tls.key);
      if (tls.servername !== undefined) options.servername = tls.servername;
      if (tls.rejectUnauthorized !== undefined) options.rejectUnauthorized = tls.rejectUnauthorized;
    }
    let session: ClientHttp2Session;
    try {
      session = connect(address, options);
    } catch (err) {
      throw new WardenError('WARDEN_CONNECTION_FAILED', `Cannot connect to '${address}': ${messageOf(err)}`, {
        cause: err,
      });
    }
    const record = new SessionRecord(session);
    this.sessions.set(address, record);
    this.all.add(record);
    const forget = (): void => {
      if (this.sessions.get(address) === record) this.sessions.delete(address);
    };
    session.once('connect', () => {
      record.connected = true;
    });
    session.on('error', (err) => {
      record.error = err;
      forget();
    });
    session.once('goaway', forget);
    session.once('close', () => {
      forget();
      this.all.delete(record);
      const lost = record.lost();
      for (const call of [...record.calls]) call.lost(lost);
      record.calls.clear();
    });
    session.unref();
    return record;
  }
}

/**
 * Creates an HTTP/2 request-plane client. Options are validated (`WARDEN_INVALID_OPTIONS`).
 *
 * @example
 * ```ts
 * const client = createHttp2Client();
 * const target = { address: server.address(), namespace: 'shop', component: 'cart', endpoint: 'add' };
 * const result = await client.request(target, { sku: 1 }, { timeoutMs: 1000 });
 * for await (const chunk of client.call({ ...target, endpoint: 'watch' }, {})) console.log(chunk);
 * await client.close();
 * ```
 */
export function createHttp2Client(options: Http2ClientOptions = {}): Http2Client {
  return new Http2Client(parseOptions(Http2ClientOptionsSchema, options, 'HTTP/2 client options'));
}
