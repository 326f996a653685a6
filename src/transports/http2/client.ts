import { type ClientHttp2Session, connect, type SecureClientSessionOptions } from 'node:http2';
import { z } from 'zod';
import type { ResponseStream } from '../../actors/response-stream.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, RequestPlaneClient } from '../../core/request-plane.js';
import { parseOptions } from '../../core/validate.js';
import { type CallHost, Http2Call } from './call.js';
import { SessionRecord } from './session.js';

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

const toBuffer = (v: string | Uint8Array): string | Buffer =>
  typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.length);

/**
 * A request-plane client over HTTP/2. It keeps one HTTP/2 session per address and multiplexes
 * every call on it as a stream; a session that failed or received GOAWAY is replaced on the next
 * call. Idle sessions do not keep the process alive. Create it with {@link createHttp2Client}.
 */
export class Http2Client implements RequestPlaneClient, CallHost {
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
    return new Http2Call(this, target, body, opts, this.options.highWaterMark);
  }

  /** One result: the single chunk of a unary response (an array if it streamed several). */
  request(target: CallTarget, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    return this.call(target, body, opts).collect();
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
            for (const call of record.calls()) {
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
      for (const call of record.calls()) call.lost(lost);
      record.clear();
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
