/**
 * The request-plane client on NATS: one reply subscription per client (`{inbox}.*`) and a
 * correlation id per call in the reply subject, so a call costs one publish and the responses
 * of every call share one subscription.
 */
import {
  type ConnectionOptions,
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { z } from 'zod';
import { ResponseStream } from '../../actors/response-stream.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, RequestPlaneClient } from '../../core/request-plane.js';
import { parseOptions } from '../../core/validate.js';
import { type CallHost, NatsCall } from './call.js';
import { CallTable } from './call-table.js';
import { cancelSubject, DEFAULT_PREFIX, PREFIX_PATTERN } from './codec.js';
import {
  broadcastCancel,
  Code,
  controlFrame,
  type EncodedValue,
  encodeRequest,
  encodeValue,
  prefersHeaders,
} from './compact.js';
import { Deadlines } from './deadlines.js';
import { headerLines, requestHeaders, userHeaderList } from './headers.js';
import { SubjectCache } from './subjects.js';
import { UnaryResult } from './unary.js';

/** Options of {@link createNatsClient}. Give `connection` or `servers`, or neither to dial the first target's address. */
export interface NatsClientOptions {
  /** NATS server URL(s) to connect to; the client owns that connection and closes it on `close()`. */
  readonly servers?: string | readonly string[];
  /** An open connection to use (not closed by `close()`); `target.address` is then ignored. */
  readonly connection?: NatsConnection;
  /** nats.js connection options passed through unchanged (auth, TLS, reconnect policy …). */
  readonly connectOptions?: Partial<ConnectionOptions>;
  /** The servers' subject prefix (default `warden`). */
  readonly prefix?: string;
  /** Largest response chunk accepted after joining its parts (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** A pino logger; the default is silent. */
  readonly logger?: Logger;
}

const opaque = z.custom<unknown>(() => true);
const OptionsSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    connection: opaque.optional(),
    connectOptions: z.record(z.string(), z.unknown()).optional(),
    prefix: z
      .string()
      .regex(PREFIX_PATTERN, 'must be dot-separated tokens of letters, digits, _ and -')
      .optional(),
    maxMessageBytes: z.number().int().positive().optional(),
    logger: opaque.optional(),
  })
  .strict();

/**
 * A request-plane client on NATS. Create it with {@link createNatsClient}.
 */
export class NatsClient implements RequestPlaneClient, CallHost {
  private conn: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private readonly owned: boolean;
  private inbox = '';
  private sub: Subscription | undefined;
  private readonly calls = new CallTable<NatsCall>();
  private readonly subjects: SubjectCache;
  private readonly deadlines = new Deadlines();
  private nextId = 0;
  private closed = false;
  /** Why calls cannot be made now (disconnected, connection closed); undefined while connected. */
  private down: string | undefined;
  private statusIter: { stop?: () => void } | undefined;
  private readonly prefix: string;
  /** @internal */
  readonly maxMessageBytes: number;
  private readonly log: Logger;

  /** @internal Use {@link createNatsClient}. */
  constructor(private readonly options: NatsClientOptions) {
    parseOptions(OptionsSchema, options, 'NATS client options');
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.subjects = new SubjectCache(this.prefix);
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ transport: 'nats', role: 'client' });
    this.owned = options.connection === undefined;
    if (options.connection) this.adopt(options.connection);
  }

  /** Streams the response chunks of one call. */
  call(target: CallTarget, body: unknown, opts: CallOptions = {}): ResponseStream {
    const stream = new ResponseStream(opts);
    const call = new NatsCall(this, this.nextId++, stream, target, body, opts.headers);
    return stream.attach(call);
  }

  /**
   * One result: the single chunk of a unary response (an array if it streamed several). The same
   * call as `collect(call(…))`, without the async iteration in between.
   */
  request(target: CallTarget, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    const result = new UnaryResult(opts, this.deadlines);
    return result.start(new NatsCall(this, this.nextId++, result, target, body, opts.headers));
  }

  /** Ends every call in flight with `WARDEN_CLIENT_CLOSED`, stops listening and closes an owned connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const conn = this.conn;
    for (const call of this.calls.values()) {
      this.cancelCall(call);
      call.stream.error({ code: 'WARDEN_CLIENT_CLOSED', message: 'The NATS client was closed' });
    }
    this.deadlines.clear();
    this.statusIter?.stop?.();
    if (conn && !conn.isClosed()) {
      this.sub?.unsubscribe();
      if (this.owned) await conn.drain().catch(() => conn.close());
    } else if (!conn && this.connecting) {
      const late = await this.connecting.catch(() => undefined);
      if (late && this.owned) await late.close().catch(() => {});
    }
    this.sub = undefined;
  }

  // ---- sending --------------------------------------------------------------------------

  /** @internal Publishes the call's request (now, or once the first connection is up). */
  startCall(call: NatsCall, target: CallTarget, body: unknown, headers: CallOptions['headers']): void {
    if (this.closed)
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'The NATS client was closed; make a new one');
    const subject = this.subjects.of(target);
    const encoded = encodeValue(body, 'request');
    const list = headers ? userHeaderList(headers) : undefined;
    const conn = this.conn;
    if (conn) {
      this.publish(conn, call, subject, encoded, list);
      return;
    }
    this.connection(target.address).then(
      (c) => {
        if (!call.stream.done) this.safePublish(c, call, subject, encoded, list);
      },
      (err) =>
        call.stream.error(
          new WardenError(
            'WARDEN_CONNECTION_FAILED',
            `Cannot connect to NATS at ${this.dialed(target.address)}: ${messageOf(err)}`,
            { cause: err },
          ),
        ),
    );
  }

  private safePublish(
    conn: NatsConnection,
    call: NatsCall,
    subject: string,
    encoded: EncodedValue,
    headers: string[] | undefined,
  ): void {
    try {
      this.publish(conn, call, subject, encoded, headers);
    } catch (err) {
      call.stream.error(err instanceof WardenError ? err : toPublishError(err));
    }
  }

  /** Publishes a compact request with the reply subject `{inbox}.{call id}`. */
  private publish(
    conn: NatsConnection,
    call: NatsCall,
    subject: string,
    encoded: EncodedValue,
    headers: string[] | undefined,
  ): void {
    if (this.closed)
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'The NATS client was closed; make a new one');
    if (this.down !== undefined) throw new WardenError('WARDEN_CONNECTION_CLOSED', this.down);
    const max = conn.info?.max_payload;
    if (max !== undefined && encoded.size > max - 256) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `The request body (${encoded.size} bytes) does not fit the NATS server's max_payload (${max} bytes); send a smaller body or raise max_payload`,
      );
    }
    const deadline = call.stream.deadline;
    const timeoutMs = deadline === undefined ? undefined : remainingMs(deadline);
    const reply = `${this.inbox}.${this.calls.add(call)}`;
    call.reply = reply;
    try {
      if (prefersHeaders(encoded)) {
        // A large raw body goes as it is, in the header framing (no copy behind a prefix).
        const h = requestHeaders(undefined, timeoutMs, encoded.kind, headers ? headerLines(headers) : '');
        conn.publish(subject, encoded.bytes, { reply, headers: h });
      } else {
        conn.publish(subject, encodeRequest(encoded, timeoutMs, headers), { reply });
      }
    } catch (err) {
      this.calls.delete(call);
      throw toPublishError(err);
    }
  }

  /** @internal The caller went away: tell the server (directly once it is known, else by broadcast). */
  cancelCall(call: NatsCall): void {
    if (!this.calls.delete(call)) return;
    const conn = this.conn;
    if (!conn || conn.isClosed() || this.down !== undefined) return;
    try {
      if (call.control) {
        conn.publish(call.control, controlFrame(Code.cancel, call.seq));
      } else {
        conn.publish(cancelSubject(this.prefix), broadcastCancel(call.reply));
      }
    } catch (err) {
      this.log.debug({ err: messageOf(err) }, 'cannot publish a cancel');
    }
  }

  /** @internal The call has ended: forget it. */
  forget(call: NatsCall): void {
    this.calls.delete(call);
  }

  /** @internal Acks every response message received so far, so the server may send more. */
  sendAck(call: NatsCall): void {
    if (!call.control || call.seq <= call.acked || !this.calls.has(call)) return;
    const conn = this.conn;
    if (!conn || conn.isClosed()) return;
    call.acked = call.seq;
    try {
      conn.publish(call.control, controlFrame(Code.ack, call.seq));
    } catch {
      // The disconnect handler ends the call.
    }
  }

  // ---- receiving ------------------------------------------------------------------------

  private readonly onReply = (err: Error | null, msg: Msg): void => {
    if (err) {
      this.log.error({ err: messageOf(err) }, 'the NATS reply subscription failed');
      return;
    }
    const raw = (msg as unknown as RawSubject)._msg?.subject;
    const call =
      raw instanceof Uint8Array
        ? this.calls.findBytes(raw, this.inbox.length + 1)
        : this.calls.find(msg.subject.slice(this.inbox.length + 1));
    if (!call) return; // a late response of a call that has ended
    call.receive(msg);
  };

  // ---- the connection -------------------------------------------------------------------

  private connection(address: string): Promise<NatsConnection> {
    this.connecting ??= (async () => {
      const servers = this.options.servers ?? this.dialed(address);
      const conn = await connect({
        ...this.options.connectOptions,
        servers: typeof servers === 'string' ? servers : [...servers],
      });
      if (this.closed) {
        await conn.close().catch(() => {});
        throw new WardenError('WARDEN_CLIENT_CLOSED', 'The NATS client was closed; make a new one');
      }
      this.adopt(conn);
      return conn;
    })();
    // A failed first connect may be retried by the next call.
    this.connecting.catch(() => {
      if (!this.conn) this.connecting = undefined;
    });
    return this.connecting;
  }

  private dialed(address: string): string {
    const s = this.options.servers;
    if (s !== undefined) return typeof s === 'string' ? s : s.join(', ');
    return address;
  }

  private adopt(conn: NatsConnection): void {
    this.conn = conn;
    this.inbox = createInbox(this.options.connectOptions?.inboxPrefix);
    this.sub = conn.subscribe(`${this.inbox}.*`, { callback: this.onReply });
    if (conn.isClosed()) this.down = 'The NATS connection is closed';
    void this.watch(conn);
    void conn.closed().then(() => {
      this.down = 'The NATS connection is closed';
      this.failAll('WARDEN_CONNECTION_CLOSED', 'The NATS connection closed before the response ended');
    });
  }

  private async watch(conn: NatsConnection): Promise<void> {
    const iter = conn.status();
    this.statusIter = iter as { stop?: () => void };
    for await (const s of iter) {
      if (s.type === 'disconnect') {
        this.down = `The client is not connected to NATS (lost ${s.server}; reconnecting)`;
        this.failAll(
          'WARDEN_CONNECTION_CLOSED',
          'The connection to NATS was lost before the response ended; the response may be incomplete',
        );
      } else if (s.type === 'reconnect') {
        this.down = undefined;
      } else if (s.type === 'close') {
        break;
      }
    }
  }

  private failAll(code: 'WARDEN_CONNECTION_CLOSED', message: string): void {
    if (this.calls.size === 0) return;
    const calls = this.calls.values();
    this.calls.clear();
    for (const call of calls) call.stream.error({ code, message });
  }
}

/**
 * Whole milliseconds left until `deadline`, at least 0; undefined (no deadline sent) when it is not
 * finite. Capped so that it fits a varint.
 */
function remainingMs(deadline: number): number | undefined {
  const left = deadline - Date.now();
  if (!Number.isFinite(left)) return undefined;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(left)));
}

/** nats.js 3.4 keeps a message's subject as bytes in `_msg.subject` (read there: no string per message). */
interface RawSubject {
  readonly _msg?: { readonly subject?: unknown };
}

function toPublishError(err: unknown): WardenError {
  const message = messageOf(err);
  if (/max_payload/i.test(message)) {
    return new WardenError(
      'WARDEN_MESSAGE_TOO_LARGE',
      `The request does not fit NATS max_payload: ${message}`,
      {
        cause: err,
      },
    );
  }
  return new WardenError('WARDEN_CONNECTION_CLOSED', `Cannot publish the request to NATS: ${message}`, {
    cause: err,
  });
}

/**
 * Creates a request-plane client on NATS.
 *
 * @example
 * ```ts
 * const client = createNatsClient({ servers: 'nats://127.0.0.1:4222' });
 * const target = { address: server.address(), namespace: 'shop', component: 'cart', endpoint: 'add' };
 * const result = await client.request(target, { sku: 'a1' }, { timeoutMs: 2000 });
 * for await (const chunk of client.call(target, { stream: true })) console.log(chunk);
 * await client.close();
 * ```
 */
export function createNatsClient(options: NatsClientOptions = {}): NatsClient {
  return new NatsClient(options);
}
