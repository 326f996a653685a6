/**
 * The sink of `request()`: collects a call's chunks into one promise. It keeps the promises of a
 * `ResponseStream` read by `collect()` (signal, deadline, error codes, one chunk or an array) with
 * a fraction of the per-call work: no async iterator, no queue, one promise, no closures, and no
 * timer of its own (the client's {@link Deadlines} watches every call's deadline on one timer).
 */
import type { CallDriver } from '../../actors/response-stream.js';
import { isErrorCode, WardenError } from '../../core/errors.js';
import type { CallOptions, WireError } from '../../core/request-plane.js';
import type { CallSink } from './call.js';
import type { Deadlines, Expiring } from './deadlines.js';

const CANCELLED: WireError = { code: 'WARDEN_CANCELLED', message: 'The caller cancelled the request' };

/** The result of one `request()`: settles with the single chunk, an array of several, or `undefined`. */
export class UnaryResult implements CallSink, Expiring {
  readonly deadline: number | undefined;
  done = false;
  readonly promise: Promise<unknown>;
  private resolve!: (value: unknown) => void;
  private reject!: (err: unknown) => void;
  private count = 0;
  private first: unknown;
  private rest: unknown[] | undefined;
  /** In the client's {@link Deadlines}. */
  private watched = false;
  private driver: CallDriver | undefined;

  constructor(
    private readonly opts: CallOptions,
    private readonly deadlines: Deadlines,
  ) {
    this.deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Arms the signal and the deadline, then sends the request. */
  start(driver: CallDriver): Promise<unknown> {
    this.driver = driver;
    const signal = this.opts.signal;
    if (signal?.aborted) {
      this.abandon(CANCELLED);
      return this.promise;
    }
    // The object itself listens (handleEvent): no closure per call.
    signal?.addEventListener('abort', this, { once: true });
    if (this.deadline !== undefined) {
      this.watched = true;
      this.deadlines.add(this, this.opts.timeoutMs as number);
    }
    try {
      driver.send();
    } catch (err) {
      this.error(
        err instanceof WardenError
          ? err
          : { code: 'WARDEN_CONNECTION_FAILED', message: String((err as Error)?.message ?? err) },
      );
    }
    return this.promise;
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.abandon(CANCELLED);
  }

  push(chunk: unknown): void {
    if (this.done) return;
    if (this.count === 0) this.first = chunk;
    else if (this.rest) this.rest.push(chunk);
    else this.rest = [this.first, chunk];
    this.count++;
  }

  end(): void {
    if (this.done) return;
    const value = this.count === 1 ? this.first : this.count === 0 ? undefined : this.rest;
    this.finish();
    this.resolve(value);
  }

  error(err: WireError | WardenError): void {
    if (this.done) return;
    this.finish();
    this.reject(
      err instanceof WardenError
        ? err
        : new WardenError(isErrorCode(err.code) ? err.code : 'WARDEN_HANDLER_ERROR', err.message),
    );
  }

  /** The deadline passed. */
  expire(): void {
    this.abandon({
      code: 'WARDEN_DEADLINE_EXCEEDED',
      message: `No complete response within ${this.opts.timeoutMs} ms`,
    });
  }

  /** The caller side ends the call: tell the server, then fail locally. */
  private abandon(reason: WireError): void {
    if (this.done) return;
    this.driver?.cancel(reason);
    this.error(reason);
  }

  private finish(): void {
    this.done = true;
    if (this.watched) {
      this.watched = false;
      this.deadlines.ended();
    }
    this.opts.signal?.removeEventListener('abort', this);
    this.first = undefined;
    this.rest = undefined;
  }
}
