import { WardenError } from '../core/errors.js';

/**
 * The queue behind every `watch()`: the discovery pushes events synchronously, in order, and the
 * watcher reads them at its own pace. Discovery events are rare (instances come and go), so the
 * queue is unbounded.
 */
export class EventChannel<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((e: unknown) => void) | undefined;
  private ended = false;
  private failure: unknown;
  private failed = false;
  private iterated = false;

  /**
   * @param onClose runs once when the channel ends for any reason (the reader stopped, the
   *   discovery ended it, the signal aborted): the owner stops feeding it there.
   */
  constructor(
    private readonly onClose: () => void,
    signal?: AbortSignal,
  ) {
    if (signal?.aborted) this.end();
    else signal?.addEventListener('abort', () => this.end(), { once: true });
  }

  /** True once the channel ended; pushes are ignored then. */
  get closed(): boolean {
    return this.ended;
  }

  /** Queues `value` for the reader (hands it over at once when the reader waits). */
  push(value: T): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      this.failWaiter = undefined;
      w({ value, done: false });
    } else this.queue.push(value);
  }

  /** Ends the channel: queued events are still read, then the iteration finishes (or throws `err`). */
  end(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (err !== undefined) {
      this.failed = true;
      this.failure = err;
    }
    this.onClose();
    if (this.queue.length > 0) return;
    const w = this.waiter;
    const f = this.failWaiter;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (this.failed) f?.(this.failure);
    else w?.({ value: undefined, done: true });
  }

  /** The reader's side; iterate once. Leaving the loop early ends the channel. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new WardenError('WARDEN_INVALID_OPTIONS', 'A watch can be iterated only once');
    this.iterated = true;
    return {
      next: () => {
        if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
        if (this.ended) {
          if (this.failed) {
            this.failed = false;
            return Promise.reject(this.failure);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
      return: () => {
        this.queue.length = 0;
        this.failed = false;
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
