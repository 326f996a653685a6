/**
 * The client's side of one TCP connection (shared by every call to one address) and of each call
 * on it: stream ids, the response stream, and the flow-control credit returned as the caller reads.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type CallDriver, ResponseStream } from '../../actors/response-stream.js';
import { decodeBody } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, WireError } from '../../core/request-plane.js';
import {
  CHUNK_OVERHEAD,
  encodeCancel,
  encodeHello,
  encodeWindow,
  type Frame,
  FrameType,
  PROTOCOL_VERSION,
} from './codec.js';
import { FrameConnection } from './connection.js';
import type { TcpClientConfig } from './options.js';
import { StreamTable } from './stream-table.js';

/** What a client connection needs from its client. */
export interface ConnectionOwner {
  connectionClosed(conn: ClientConnection): void;
}

/** Sends a call's request when its iteration starts (the client). */
export interface CallSender {
  send(target: CallTarget, body: unknown, opts: CallOptions, stream: TcpResponseStream): void;
}

/**
 * A call's response stream, which is also its own driver (one object per call, no closures): it
 * sends the request when iteration starts, cancels the stream, and grants the server credit as
 * the caller consumes chunks — each chunk's frame size is remembered in arrival order and returned
 * once the caller has taken it (the last chunk of a stream needs no credit and is not counted),
 * whether it iterates or collects the call.
 */
export class TcpResponseStream extends ResponseStream implements CallDriver {
  call: ClientCall | undefined;
  private sizes: number[] | undefined;
  private sizesHead = 0;

  constructor(
    private readonly sender: CallSender,
    private readonly target: CallTarget,
    private readonly body: unknown,
    private readonly callOptions: CallOptions,
  ) {
    super(callOptions);
    this.attach(this);
  }

  send(): void {
    this.sender.send(this.target, this.body, this.callOptions, this);
  }

  cancel(): void {
    const call = this.call;
    if (call) call.conn.cancel(call);
  }

  /** A chunk whose frame took `size` bytes of credit. */
  pushSized(chunk: unknown, size: number): void {
    this.sizes ??= [];
    this.sizes.push(size);
    this.push(chunk);
  }

  /** The caller took the oldest chunk not yet taken: return its credit. */
  protected override chunkTaken(): void {
    const sizes = this.sizes;
    if (sizes === undefined || this.sizesHead >= sizes.length) return;
    const size = sizes[this.sizesHead++] as number;
    if (this.sizesHead === sizes.length) {
      sizes.length = 0;
      this.sizesHead = 0;
    }
    this.call?.consumed(size);
  }
}

/** One call on a connection: its stream id, its response stream and the credit it owes. */
export class ClientCall {
  /** False once the call was cancelled or ended locally; the id stays reserved until END/ERROR. */
  live = true;
  private owed = 0;

  constructor(
    readonly conn: ClientConnection,
    readonly id: number,
    readonly stream: TcpResponseStream,
    private readonly window: number,
  ) {}

  /** The caller took a chunk of `size` frame bytes: return the credit in batches of a quarter window. */
  consumed(size: number): void {
    if (!this.live) return;
    this.owed += size;
    if (this.owed >= this.window >>> 2) {
      this.conn.write(encodeWindow(this.id, Math.min(this.owed, 0x7fff_ffff)));
      this.owed = 0;
    }
  }
}

/** One socket to one address, shared by every call to it. */
export class ClientConnection extends FrameConnection {
  private readonly calls = new StreamTable<ClientCall>();
  private nextId = 0;
  private connected = false;
  /** The peer's limit once its HELLO arrived. */
  private peerMax: number;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Why the server closed the connection, from an ERROR on stream 0. */
  private goaway: WireError | undefined;

  constructor(
    socket: Socket,
    tls: boolean,
    private readonly client: ConnectionOwner,
    readonly address: string,
    private readonly config: TcpClientConfig,
    private readonly log: Logger,
  ) {
    super(socket, config.maxMessageBytes, config.keepaliveMs);
    this.peerMax = config.maxMessageBytes;
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      if (this.connectTimer) clearTimeout(this.connectTimer);
    });
    this.connectTimer = setTimeout(() => {
      this.destroy({
        code: 'WARDEN_CONNECTION_FAILED',
        message: `Could not connect to ${address} within ${config.connectTimeoutMs} ms`,
      });
    }, config.connectTimeoutMs);
    this.connectTimer.unref();
    // Pipelined: requests may follow at once; the server reads HELLO first.
    this.write(encodeHello(config.maxMessageBytes, config.token ?? ''));
  }

  /** The largest frame this side may send now. */
  get sendLimit(): number {
    return Math.min(this.peerMax, this.config.maxMessageBytes);
  }

  /**
   * Opens a stream for `stream` and queues its REQUEST `frame` (encoded with stream id 0), and
   * `body` after it when the frame is only its head.
   */
  start(frame: Buffer, body: Uint8Array | undefined, stream: TcpResponseStream): void {
    checkSize(frame, this.sendLimit);
    const id = this.allocateId();
    frame.writeUInt32BE(id, 6);
    const call = new ClientCall(this, id, stream, this.config.streamWindowBytes);
    stream.call = call;
    this.calls.set(id, call);
    this.write(frame, body);
  }

  /** The caller went away: tell the server, keep the id until it ends the stream. */
  cancel(call: ClientCall): void {
    if (!call.live) return;
    call.live = false;
    this.write(encodeCancel(call.id));
  }

  frame(f: Frame): void {
    if (this.closed) return;
    switch (f.type) {
      case FrameType.CHUNK: {
        const call = this.calls.get(f.streamId);
        if (call === undefined) return;
        if (call.live) {
          let value: unknown;
          try {
            value = decodeBody(f.bodyKind, f.body);
          } catch (err) {
            this.failCall(call, { code: 'WARDEN_PROTOCOL_ERROR', message: messageOf(err) });
            return;
          }
          if (f.last) call.stream.push(value);
          else call.stream.pushSized(value, f.body.length + CHUNK_OVERHEAD);
        }
        if (f.last) this.endCall(call);
        return;
      }
      case FrameType.END: {
        const call = this.calls.get(f.streamId);
        if (call !== undefined) this.endCall(call);
        return;
      }
      case FrameType.ERROR: {
        if (f.streamId === 0) {
          // The server ends the connection; close our side too rather than wait for it.
          this.goaway = { code: f.code as WireError['code'], message: f.message };
          this.close();
          return;
        }
        const call = this.calls.get(f.streamId);
        if (call === undefined) return;
        this.calls.delete(f.streamId);
        if (call.live) {
          call.live = false;
          call.stream.error({ code: f.code as WireError['code'], message: f.message });
        }
        return;
      }
      case FrameType.HELLO:
        if (f.version !== PROTOCOL_VERSION) throw protocolErr(`Unsupported protocol version ${f.version}`);
        this.peerMax = f.maxFrameBytes;
        return;
      default:
        if (this.handlePing(f)) return;
        throw protocolErr(`A server must not send frame type ${f.type}`);
    }
  }

  oversized(type: number, streamId: number, length: number): void {
    if (this.closed) return;
    const call = this.calls.get(streamId);
    if (type !== FrameType.CHUNK || call === undefined) {
      throw protocolErr(
        `Frame of ${length} bytes is larger than the limit of ${this.config.maxMessageBytes}`,
      );
    }
    this.failCall(call, {
      code: 'WARDEN_MESSAGE_TOO_LARGE',
      message: `A response chunk of ${length} bytes is larger than this client's limit of ${this.config.maxMessageBytes} bytes`,
    });
  }

  protected override socketError(err: Error): void {
    if (!this.connected) {
      this.destroy({
        code: 'WARDEN_CONNECTION_FAILED',
        message: `Could not connect to ${this.address}: ${err.message}`,
      });
      return;
    }
    super.socketError(err);
  }

  protected override onClosed(error: WireError | undefined): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.client.connectionClosed(this);
    const reason: WireError = this.goaway ??
      error ?? {
        code: this.connected ? 'WARDEN_CONNECTION_CLOSED' : 'WARDEN_CONNECTION_FAILED',
        message: this.connected
          ? `The connection to ${this.address} closed before the response ended`
          : `Could not connect to ${this.address}`,
      };
    if (reason.code === 'WARDEN_PROTOCOL_ERROR' || reason.code === 'WARDEN_UNAUTHORIZED') {
      this.log.warn({ address: this.address, code: reason.code }, reason.message);
    }
    const calls = this.calls.values();
    this.calls.clear();
    for (const call of calls) {
      if (!call.live) continue;
      call.live = false;
      call.stream.error(reason);
    }
  }

  /** Closes the connection, ending its calls with `reason`. */
  shutdown(reason: WireError): void {
    this.goaway ??= reason;
    this.close();
  }

  private endCall(call: ClientCall): void {
    this.calls.delete(call.id);
    if (!call.live) return;
    call.live = false;
    call.stream.end();
  }

  private failCall(call: ClientCall, err: WireError): void {
    if (call.live) {
      call.live = false;
      call.stream.error(err);
    }
    this.write(encodeCancel(call.id));
  }

  private allocateId(): number {
    do {
      this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    } while (this.calls.has(this.nextId));
    return this.nextId;
  }
}

/** Throws `WARDEN_MESSAGE_TOO_LARGE` when a frame (its length field) is over `limit`. */
export function checkSize(frame: Buffer, limit: number): void {
  const length = frame.readUInt32BE(0);
  if (length > limit) {
    throw new WardenError(
      'WARDEN_MESSAGE_TOO_LARGE',
      `The request is ${length} bytes; the limit is ${limit} bytes (maxMessageBytes); send a smaller body`,
    );
  }
}

function protocolErr(message: string): WardenError {
  return new WardenError('WARDEN_PROTOCOL_ERROR', message);
}
