import { isErrorCode, WardenError } from '../core/errors.js';
import type { CallOptions, WireError } from '../core/request-plane.js';

/** What a transport's client does for one call. */
export interface CallDriver {
  /** Sends the request; called once when iteration starts. */
  send(): void;
  /** The caller went away (abort, deadline, stopped iterating): tell the server. */
  cancel(reason: WireError): void;
  /** The reader fell behind (`true`) or caught up (`false`): pause or resume reading, if the transport can. */
  pause?(paused: boolean): void;
}

const CANCELLED: WireError = { code: 'WARDEN_CANCELLED', message: 'The caller cancelled the request' };
const STOPPED_READING: WireError = {
  code: 'WARDEN_CANCELLED',
  message: 'The caller stopped reading the response',
};
/** No chunk was collected yet. */
const NONE: unique symbol = Symbol('none');

/** The `timeoutMs` of a call ran out (a shared function: no closure per call). */
function expire(stream: ResponseStream): void {
  stream.expired();
}

/**
 * The client side of one call: an async iterable of response chunks, fed by the transport with
 * `push`, `end` and `error`. It owns the caller-facing promises of every transport: the caller's
 * signal and `timeoutMs` end the call with `WARDEN_CANCELLED` / `WARDEN_DEADLINE_EXCEEDED` (and the
 * server is told), breaking out of the loop cancels, errors arrive as `WardenError` with the
 * server's code, and a reader that falls behind pauses the transport instead of growing memory.
 *
 * {@link collect} reads it without the async-iterator protocol (one promise per call instead of
 * one per chunk and step): that is what `client.request()` uses.
 */
export class ResponseStream implements AsyncIterable<unknown> {
  /** Epoch ms deadline, or undefined. */
  readonly deadline: number | undefined;
  private readonly queue: unknown[] = [];
  private waiter: ((v: IteratorResult<unknown>) => void) | undefined = undefined;
  private failWaiter: ((e: unknown) => void) | undefined = undefined;
  private ended = false;
  private failure: WardenError | undefined = undefined;
  private paused = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  private driver: CallDriver | undefined = undefined;
  private iterated = false;
  private pushed = false;
  /** Made only for a call with a signal. */
  private onAbort: (() => void) | undefined = undefined;
  /** Read by {@link collect}: chunks are taken as they arrive, the promise settles at the end. */
  private collecting = false;
  private first: unknown = NONE;
  private rest: unknown[] | undefined = undefined;
  private resolveAll: ((value: unknown) => void) | undefined = undefined;
  private rejectAll: ((err: unknown) => void) | undefined = undefined;

  constructor(
    private readonly opts: CallOptions,
    private readonly highWaterMark = 64,
  ) {
    this.deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
  }

  /** Attaches the transport; called by the client before the stream is returned. */
  attach(driver: CallDriver): this {
    this.driver = driver;
    return this;
  }

  /** True once the response ended (either way); a transport stops feeding then. */
  get done(): boolean {
    return this.ended;
  }

  /** True once a chunk arrived: a call that fails after that was served (at least in part). */
  get receivedChunk(): boolean {
    return this.pushed;
  }

  push(chunk: unknown): void {
    if (this.ended) return;
    this.pushed = true;
    if (this.collecting) {
      if (this.first === NONE) this.first = chunk;
      else if (this.rest === undefined) this.rest = [chunk];
      else this.rest.push(chunk);
      this.chunkTaken();
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiters();
      this.chunkTaken();
      w({ value: chunk, done: false });
      return;
    }
    this.queue.push(chunk);
    if (!this.paused && this.queue.length >= this.highWaterMark) {
      this.paused = true;
      this.driver?.pause?.(true);
    }
  }

  end(): void {
    if (this.ended) return;
    this.finish();
    if (this.collecting) {
      const resolve = this.resolveAll as (value: unknown) => void;
      this.resolveAll = undefined;
      this.rejectAll = undefined;
      const first = this.first;
      const rest = this.rest;
      this.first = NONE;
      this.rest = undefined;
      resolve(first === NONE ? undefined : rest === undefined ? first : [first, ...rest]);
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiters();
      w({ value: undefined, done: true });
    }
  }

  error(err: WireError | WardenError): void {
    if (this.ended) return;
    this.failure =
      err instanceof WardenError
        ? err
        : new WardenError(isErrorCode(err.code) ? err.code : 'WARDEN_HANDLER_ERROR', err.message);
    this.finish();
    if (this.collecting) {
      const reject = this.rejectAll as (err: unknown) => void;
      this.resolveAll = undefined;
      this.rejectAll = undefined;
      this.first = NONE;
      this.rest = undefined;
      reject(this.failure);
      return;
    }
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.clearWaiters();
      f(this.failure);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    if (this.iterated) throw new WardenError('WARDEN_INVALID_OPTIONS', 'A call can be iterated only once');
    this.iterated = true;
    this.begin();
    return {
      next: () => this.next(),
      return: async () => {
        this.abandon(STOPPED_READING);
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * Reads the whole response: its single chunk, an array when it streamed several, `undefined` for
   * none (as {@link collect} does). Like iterating, it sends the request, and works once per call.
   */
  collect(): Promise<unknown> {
    if (this.iterated) {
      return Promise.reject(new WardenError('WARDEN_INVALID_OPTIONS', 'A call can be iterated only once'));
    }
    this.iterated = true;
    this.collecting = true;
    const all = new Promise<unknown>((resolve, reject) => {
      this.resolveAll = resolve;
      this.rejectAll = reject;
    });
    this.begin();
    return all;
  }

  /** A chunk was handed to the caller (a transport may return flow-control credit for it). */
  protected chunkTaken(): void {}

  /** @internal The call's `timeoutMs` ran out. */
  expired(): void {
    this.abandon({
      code: 'WARDEN_DEADLINE_EXCEEDED',
      message: `No complete response within ${this.opts.timeoutMs} ms`,
    });
  }

  private begin(): void {
    const signal = this.opts.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.abandon(CANCELLED);
        return;
      }
      this.onAbort = () => this.abandon(CANCELLED);
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    if (this.deadline !== undefined) {
      this.timer = setTimeout(expire, Math.max(0, this.deadline - Date.now()), this);
    }
    try {
      this.driver?.send();
    } catch (err) {
      this.error(
        err instanceof WardenError
          ? err
          : { code: 'WARDEN_CONNECTION_FAILED', message: String((err as Error)?.message ?? err) },
      );
    }
  }

  private next(): Promise<IteratorResult<unknown>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift();
      if (this.paused && this.queue.length <= this.highWaterMark / 2) {
        this.paused = false;
        this.driver?.pause?.(false);
      }
      this.chunkTaken();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** The caller side ends the call: tell the server, then fail locally. */
  private abandon(reason: WireError): void {
    if (this.ended) return;
    this.driver?.cancel(reason);
    this.error(reason);
  }

  private finish(): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.opts.signal?.removeEventListener('abort', this.onAbort);
  }

  private clearWaiters(): void {
    this.waiter = undefined;
    this.failWaiter = undefined;
  }
}

/** Reads a whole call: its single chunk, an array when it streamed several, `undefined` for none. */
export function collect(stream: AsyncIterable<unknown>): Promise<unknown> {
  return stream instanceof ResponseStream ? stream.collect() : collectIterable(stream);
}

async function collectIterable(stream: AsyncIterable<unknown>): Promise<unknown> {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : chunks.length === 0 ? undefined : chunks;
}

/** A fresh request id (random, URL-safe). */
export function newRequestId(): string {
  return globalThis.crypto.randomUUID();
}
