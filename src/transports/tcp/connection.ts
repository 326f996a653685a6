import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { WireError } from '../../core/request-plane.js';
import { encodeError, encodePing, type Frame, FrameType, ZERO_COPY_BYTES } from './codec.js';
import { FrameDecoder, type FrameHandler } from './decoder.js';

/** Frames queued before a flush is forced at once rather than at the end of the tick. */
const FLUSH_BYTES = 64 * 1024;

/** How long a closing connection waits for the peer to close its side before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

/**
 * The half of a TCP connection both sides share: frame decoding, coalesced writes with socket
 * back-pressure, keepalive pings, and an orderly close. Server and client connections extend it.
 *
 * Writes are queued and written together at the end of the tick (`process.nextTick`; queued from a
 * promise job, as responses and requests are, that is after the whole promise-job cascade of the
 * turn has run), or at once when 64 KiB are queued. So the many small frames of one turn — say the
 * responses to all 64 requests of one read — leave in one `write` (one syscall), and no event-loop
 * phase is waited for.
 */
export abstract class FrameConnection implements FrameHandler {
  /** True once the connection is closing or closed: nothing more is written or dispatched. */
  closed = false;
  /** Settles once the socket itself has closed. */
  readonly socketClosed: Promise<void>;
  private resolveSocketClosed!: () => void;
  protected readonly decoder: FrameDecoder;
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** The frame queued last, while it is still unwritten (so END_STREAM may still be set on it). */
  private lastFrame: Buffer | undefined;
  /** A large frame or body is queued: it is written as it is, not copied into one buffer. */
  private queuedLarge = false;
  private flushScheduled = false;
  private readonly drainWaiters: Array<() => void> = [];
  private keepalive: NodeJS.Timeout | undefined;
  private heard = true;
  private pingOutstanding = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly flushNow = () => this.flush();

  constructor(
    readonly socket: Socket,
    maxFrameBytes: number,
    keepaliveMs: number,
  ) {
    this.decoder = new FrameDecoder(this, { maxFrameBytes });
    this.socketClosed = new Promise((resolve) => {
      this.resolveSocketClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => this.received(bytes));
    socket.on('drain', () => this.wakeDrainWaiters());
    socket.on('end', () => this.peerEnded());
    socket.on('error', (err) => this.socketError(err));
    socket.on('close', () => this.closedSocket());
    if (keepaliveMs > 0) {
      this.keepalive = setInterval(() => this.keepaliveTick(), keepaliveMs);
      this.keepalive.unref();
    }
  }

  /** A decoded frame (from the decoder); throw a `WARDEN_PROTOCOL_ERROR` to reject it. */
  abstract frame(frame: Frame): void;
  /** A REQUEST or CHUNK over the size limit (its bytes are being skipped). */
  abstract oversized(
    type: typeof FrameType.REQUEST | typeof FrameType.CHUNK,
    streamId: number,
    length: number,
  ): void;
  /** The connection is gone (once): fail or cancel whatever used it. `error` says why, when known. */
  protected abstract onClosed(error: WireError | undefined): void;

  /** True while the socket's write buffer is over its high-water mark: wait for {@link whenDrained}. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Calls `wake` once the socket drained (or closed). */
  whenDrained(wake: () => void): void {
    if (this.closed || !this.socket.writableNeedDrain) wake();
    else this.drainWaiters.push(wake);
  }

  /**
   * Queues a frame for the next flush. A large `body` goes as its own write entry after `frame`
   * (the frame's head, whose length field already counts it), so it is never copied.
   */
  write(frame: Buffer, body?: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(frame);
    this.queued += frame.length;
    if (frame.length >= ZERO_COPY_BYTES) this.queuedLarge = true;
    if (body !== undefined) {
      this.queue.push(body);
      this.queued += body.length;
      this.queuedLarge = true;
    }
    this.lastFrame = frame;
    if (this.queued >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** True when `frame` is the last frame queued and not yet written (so it may still be amended). */
  isLastQueued(frame: Buffer): boolean {
    return this.lastFrame === frame;
  }

  /** Writes everything queued now. */
  flush(): void {
    this.flushScheduled = false;
    const queue = this.queue;
    if (queue.length === 0 || this.socket.destroyed) return;
    this.queue = [];
    this.lastFrame = undefined;
    const bytes = this.queued;
    const large = this.queuedLarge;
    this.queued = 0;
    this.queuedLarge = false;
    if (queue.length === 1) this.socket.write(queue[0] as Uint8Array);
    // Small frames are copied into one buffer (far cheaper than a write request each: a stream's
    // chunks of one tick may be a thousand frames); large frames and bodies are not copied at all.
    else if (!large) this.socket.write(Buffer.concat(queue, bytes));
    else {
      const socket = this.socket;
      socket.cork();
      let run = 0;
      let runBytes = 0;
      for (let i = 0; i <= queue.length; i++) {
        const b = queue[i];
        if (b !== undefined && b.length < ZERO_COPY_BYTES) {
          run++;
          runBytes += b.length;
          continue;
        }
        // A run of small frames before this large one (or the end) leaves as one buffer.
        if (run === 1) socket.write(queue[i - 1] as Uint8Array);
        else if (run > 1) socket.write(Buffer.concat(queue.slice(i - run, i), runBytes));
        run = 0;
        runBytes = 0;
        if (b !== undefined) socket.write(b);
      }
      socket.uncork();
    }
  }

  /**
   * Closes the connection: optionally sends an ERROR on stream 0 first, flushes, ends the socket and
   * destroys it if the peer does not close its side soon. Idempotent.
   */
  close(error?: WireError): void {
    if (this.closed) return;
    if (error) this.write(encodeError(0, error.code, error.message));
    this.flush();
    this.markClosed(error);
    if (this.socket.destroyed) return;
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  /** Destroys the socket at once (nothing more is written). */
  destroy(error?: WireError): void {
    this.markClosed(error);
    this.socket.destroy();
  }

  /** Answers PINGs; any other connection-level frame is the subclass's. Returns true when handled. */
  protected handlePing(frame: Frame): boolean {
    if (frame.type === FrameType.PING) {
      this.write(encodePing(frame.data, true));
      return true;
    }
    // Any frame counts as a sign of life (see keepaliveTick), so a PONG needs nothing more.
    if (frame.type === FrameType.PONG) return true;
    return false;
  }

  /** A protocol error on this connection: tell the peer on stream 0, then close. */
  protected protocolError(message: string): void {
    this.close({ code: 'WARDEN_PROTOCOL_ERROR', message });
  }

  /** The peer half-closed: a frame cut short is a protocol error, otherwise close in turn. */
  protected peerEnded(): void {
    if (this.closed) return;
    if (this.decoder.midFrame) {
      this.protocolError('The connection ended in the middle of a frame');
      return;
    }
    this.close();
  }

  /** A socket error (reset, TLS failure, ...). */
  protected socketError(err: Error): void {
    this.markClosed({ code: 'WARDEN_CONNECTION_CLOSED', message: `The connection failed: ${err.message}` });
  }

  private received(bytes: Buffer): void {
    if (this.closed) return;
    this.heard = true;
    const err = this.decoder.push(bytes);
    if (err && !this.closed) this.protocolError(err.message);
  }

  private closedSocket(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.markClosed(undefined);
    this.wakeDrainWaiters();
    this.resolveSocketClosed();
  }

  private markClosed(error: WireError | undefined): void {
    if (this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.queuedLarge = false;
    this.lastFrame = undefined;
    this.onClosed(error);
    this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters.splice(0);
    for (const wake of waiters) wake();
  }

  private keepaliveTick(): void {
    if (this.heard) {
      this.heard = false;
      this.pingOutstanding = false;
      return;
    }
    if (this.pingOutstanding) {
      this.destroy({ code: 'WARDEN_CONNECTION_CLOSED', message: 'The peer did not answer a keepalive ping' });
      return;
    }
    this.pingOutstanding = true;
    this.write(encodePing(randomBytes(8)));
  }
}
