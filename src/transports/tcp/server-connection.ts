/**
 * One accepted TCP connection of the server (handshake, then REQUEST / CANCEL / WINDOW / PING) and
 * the response sink of each of its streams, with flow control.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EndpointRegistry } from '../../actors/endpoint-registry.js';
import { BodyKind, decodeBody, jsonText } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { InflightRequest, ResponseSink, WireError } from '../../core/request-plane.js';
import {
  CHUNK_OVERHEAD,
  encodeChunk,
  encodeChunkHead,
  encodeEnd,
  encodeError,
  encodeHello,
  encodeJsonChunk,
  type Frame,
  FrameFlags,
  FrameType,
  PROTOCOL_VERSION,
  type RequestFrame,
  UNLIMITED_WINDOW,
  ZERO_COPY_BYTES,
} from './codec.js';
import { FrameConnection } from './connection.js';
import type { TcpServerConfig } from './options.js';
import { StreamTable } from './stream-table.js';

/** What a server connection needs from its server. */
export interface ConnectionOwner {
  readonly registry: EndpointRegistry;
  /** A child logger for one connection. */
  connectionLog(bindings: Record<string, string>): Logger;
  connectionClosed(conn: ServerConnection): void;
}

/** SHA-256 of a token: tokens of any length compare in constant time. */
export function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Why connections close when the server stops. */
export const STOPPING: WireError = { code: 'WARDEN_CONNECTION_CLOSED', message: 'The server is stopping' };

/** Encodes one response chunk: bytes travel raw, anything else as JSON (`undefined` as `null`). */
function encodeValue(streamId: number, value: unknown): Buffer {
  if (value instanceof Uint8Array) return encodeChunk(streamId, BodyKind.raw, value);
  return encodeJsonChunk(streamId, jsonText(value, 'response'));
}

/**
 * The response side of one stream. Chunks are written as CHUNK frames; `chunk` returns a promise
 * (so the registry pauses the handler) while the stream has no credit left or the socket is
 * back-pressured, and that promise settles when credit or `drain` comes, or the stream or
 * connection closes. A unary response leaves as one CHUNK frame flagged END_STREAM.
 */
class ServerStream implements ResponseSink {
  open = true;
  inflight: InflightRequest | undefined;
  private credit: number;
  private last: Buffer | undefined;
  /** The last chunk went out flagged END_STREAM: `end()` sends nothing more. */
  private endSent = false;
  private waiter: (() => void) | undefined;
  /** `wake` bound, made only for a stream that ever waits on `drain` (most never do). */
  private wakeFn: (() => void) | undefined;

  constructor(
    private readonly conn: ServerConnection,
    readonly id: number,
    window: number,
  ) {
    this.credit = window === UNLIMITED_WINDOW ? Number.POSITIVE_INFINITY : window;
  }

  chunk(value: unknown, last?: boolean): void | Promise<void> {
    if (!this.open) return;
    // Large byte chunks go as a head and the caller's bytes, uncopied (written as they are).
    const big = value instanceof Uint8Array && value.length >= ZERO_COPY_BYTES;
    const frame = big ? encodeChunkHead(this.id, BodyKind.raw, value.length) : encodeValue(this.id, value);
    const body = big ? value : undefined;
    const length = frame.length - 4 + (body?.length ?? 0);
    const limit = this.conn.sendLimit;
    if (length > limit) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk of ${length} bytes is larger than the limit of ${limit} bytes; send smaller chunks`,
      );
    }
    // The registry ends the response right after this chunk: it carries END_STREAM itself.
    if (last === true) frame[5] = FrameFlags.END_STREAM;
    // A CHUNK may leave only while the stream has credit (a REQUEST may open with a window of 0).
    if (this.credit <= 0) return this.ready().then(() => this.send(frame, body, last === true));
    return this.send(frame, body, last === true);
  }

  private send(frame: Buffer, body: Uint8Array | undefined, last: boolean): void | Promise<void> {
    if (!this.open) return;
    this.conn.write(frame, body);
    this.last = frame;
    const size = frame.length + (body?.length ?? 0);
    const registry = this.conn.registry;
    if (registry.countsBytes) registry.sent(this.inflight, size - CHUNK_OVERHEAD);
    // Nothing follows the last chunk: no credit or drain to wait for before end().
    if (last) {
      this.endSent = true;
      return;
    }
    // Credit counts whole CHUNK frames (CHUNK_OVERHEAD + body), as the client returns it.
    this.credit -= size;
    if (this.credit > 0 && !this.conn.needsDrain) return;
    return this.ready();
  }

  end(): void {
    if (!this.close()) return;
    if (this.endSent) return;
    const last = this.last;
    // The last chunk is still queued: flag it END_STREAM instead of sending an END frame.
    if (last !== undefined && this.conn.isLastQueued(last)) last[5] = FrameFlags.END_STREAM;
    else this.conn.write(encodeEnd(this.id));
  }

  error(err: WireError): void {
    if (!this.close()) return;
    this.conn.write(encodeError(this.id, err.code, err.message));
  }

  /** More credit from a WINDOW frame. */
  grant(increment: number): void {
    this.credit += increment;
    if (this.credit > 0) this.wake();
  }

  /** The connection went away: stop without writing, release a paused handler. */
  abandon(): void {
    this.open = false;
    this.wake();
  }

  private close(): boolean {
    if (!this.open) return false;
    this.open = false;
    this.conn.streamClosed(this.id);
    this.wake();
    return true;
  }

  private wake(): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w();
    }
  }

  private async ready(): Promise<void> {
    while (this.open) {
      if (this.credit <= 0) {
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
      } else if (this.conn.needsDrain) {
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
          this.wakeFn ??= () => this.wake();
          this.conn.whenDrained(this.wakeFn);
        });
      } else return;
    }
  }
}

/** One accepted connection: handshake, then REQUEST / CANCEL / WINDOW / PING frames. */
export class ServerConnection extends FrameConnection {
  /** Largest frame this side may send: the smaller of both limits. */
  sendLimit: number;
  /** The server's endpoints (its streams count their response bytes there). */
  readonly registry: EndpointRegistry;
  private authed = false;
  private readonly streams = new StreamTable<ServerStream>();
  private handshakeTimer: NodeJS.Timeout | undefined;
  private connLog: Logger | undefined;

  constructor(
    socket: Socket,
    private readonly server: ConnectionOwner,
    private readonly config: TcpServerConfig,
    private readonly tokenDigest: Buffer | undefined,
  ) {
    super(socket, config.maxMessageBytes, config.keepaliveMs);
    this.sendLimit = config.maxMessageBytes;
    this.registry = server.registry;
    this.handshakeTimer = setTimeout(
      () => this.protocolError(`No HELLO frame arrived within ${config.handshakeTimeoutMs} ms of connecting`),
      config.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref();
  }

  get log(): Logger {
    this.connLog ??= this.server.connectionLog({
      remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`,
    });
    return this.connLog;
  }

  get inflight(): number {
    return this.streams.size;
  }

  streamClosed(id: number): void {
    this.streams.delete(id);
  }

  frame(f: Frame): void {
    if (this.closed) return;
    if (!this.authed) {
      if (f.type !== FrameType.HELLO)
        throw protocolErr(`Expected HELLO as the first frame, got type ${f.type}`);
      this.hello(f.version, f.maxFrameBytes, f.token);
      return;
    }
    switch (f.type) {
      case FrameType.REQUEST:
        this.request(f);
        return;
      case FrameType.CANCEL:
        this.streams.get(f.streamId)?.inflight?.cancel();
        return;
      case FrameType.WINDOW:
        this.streams.get(f.streamId)?.grant(f.increment);
        return;
      case FrameType.ERROR:
        // A client says goodbye on stream 0; on a stream, an ERROR from a client means nothing.
        if (f.streamId !== 0) throw protocolErr('A client sends ERROR only on stream 0');
        this.log.debug({ code: f.code }, `client closed the connection: ${f.message}`);
        this.close();
        return;
      default:
        if (this.handlePing(f)) return;
        throw protocolErr(`A client must not send frame type ${f.type}`);
    }
  }

  oversized(type: number, streamId: number, length: number): void {
    if (this.closed) return;
    if (!this.authed || type !== FrameType.REQUEST) {
      throw protocolErr(
        `Frame of ${length} bytes is larger than the limit of ${this.config.maxMessageBytes}`,
      );
    }
    if (this.streams.has(streamId)) throw protocolErr(`Stream ${streamId} is already open`);
    this.write(
      encodeError(
        streamId,
        'WARDEN_MESSAGE_TOO_LARGE',
        `The request is ${length} bytes; this server accepts at most ${this.config.maxMessageBytes}`,
      ),
    );
  }

  protected override onClosed(error: WireError | undefined): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.server.connectionClosed(this);
    if (error && error !== STOPPING) this.log.debug({ code: error.code }, error.message);
    if (this.streams.size === 0) return;
    const streams = this.streams.values();
    this.streams.clear();
    // The caller is gone with its connection: abort the handlers (nothing more can be written).
    const gone: WireError = {
      code: 'WARDEN_CONNECTION_CLOSED',
      message: error?.message ?? 'The connection closed before the response ended',
    };
    for (const s of streams) {
      s.abandon();
      s.inflight?.fail(gone);
    }
  }

  private hello(version: number, peerMax: number, token: string): void {
    if (version !== PROTOCOL_VERSION) {
      throw protocolErr(`Unsupported protocol version ${version}; this server speaks ${PROTOCOL_VERSION}`);
    }
    if (this.tokenDigest && !timingSafeEqual(digest(token), this.tokenDigest)) {
      this.log.warn(token ? 'wrong token' : 'missing token');
      this.close({
        code: 'WARDEN_UNAUTHORIZED',
        message: token ? 'The token is wrong' : 'This server requires a token',
      });
      return;
    }
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.authed = true;
    this.sendLimit = Math.min(peerMax, this.config.maxMessageBytes);
    this.write(encodeHello(this.config.maxMessageBytes));
  }

  private request(f: RequestFrame): void {
    const id = f.streamId;
    if (this.streams.has(id)) throw protocolErr(`Stream ${id} is already open`);
    if (this.streams.size >= this.config.maxInFlightPerConnection) {
      this.write(
        encodeError(
          id,
          'WARDEN_OVERLOADED',
          `This connection already has ${this.streams.size} requests in flight (the limit); retry later`,
        ),
      );
      return;
    }
    let body: unknown;
    try {
      body = decodeBody(f.bodyKind, f.body);
    } catch (err) {
      this.write(encodeError(id, 'WARDEN_PROTOCOL_ERROR', messageOf(err)));
      return;
    }
    const stream = new ServerStream(this, id, f.window);
    this.streams.set(id, stream);
    const inflight = this.registry.dispatch(
      {
        namespace: f.namespace,
        component: f.component,
        endpoint: f.endpoint,
        instanceId: f.instanceId === '' ? undefined : f.instanceId,
        requestId: f.requestId,
        deadline: f.deadline === 0 ? undefined : f.deadline,
        headers: f.headers,
        body,
      },
      stream,
      f.body.length,
    );
    if (stream.open) stream.inflight = inflight;
  }
}

function protocolErr(message: string): WardenError {
  return new WardenError('WARDEN_PROTOCOL_ERROR', message);
}
