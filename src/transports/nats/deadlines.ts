/**
 * Deadlines of a client's unary calls on one timer. A `setTimeout` per call costs a `Timeout`, its
 * async resource and a timer-list insert and removal (~0.4 µs and ~200 B per call, measured); here a
 * call costs one array slot.
 *
 * Calls are kept in one FIFO per timeout length: within a FIFO deadlines only grow, so the head is
 * the next to expire. Ended calls are not removed (that would cost a search); the head is dropped
 * when it has ended, and a FIFO holding many ended calls is compacted, so memory stays bounded by
 * twice the calls in flight. One timer is armed for the earliest head; it is unref'd while no call
 * waits, so it never keeps the process alive on its own.
 */

/** A call with a deadline. */
export interface Expiring {
  /** Epoch ms. */
  readonly deadline: number | undefined;
  /** True once the call ended (either way). */
  readonly done: boolean;
  /** The deadline passed: end the call. */
  expire(): void;
}

const MAX_DELAY_MS = 2 ** 31 - 1;

interface Fifo {
  items: Expiring[];
  /** Index of the head in `items`. */
  head: number;
}

export class Deadlines {
  private readonly fifos = new Map<number, Fifo>();
  private timer: NodeJS.Timeout | undefined;
  /** Epoch ms the timer is armed for. */
  private armedAt = Number.POSITIVE_INFINITY;
  /** Calls added and not yet ended (approximately: ended calls are counted when seen). */
  private waiting = 0;
  private readonly onTimer = (): void => this.fire();

  /** Watches `call`, whose deadline is `timeoutMs` from now. Call {@link ended} when it ends. */
  add(call: Expiring, timeoutMs: number): void {
    let fifo = this.fifos.get(timeoutMs);
    if (fifo === undefined) {
      fifo = { items: [], head: 0 };
      this.fifos.set(timeoutMs, fifo);
    }
    const live = fifo.items.length - fifo.head;
    if (live > 64 && live > 2 * this.waiting) compact(fifo);
    fifo.items.push(call);
    if (this.waiting++ === 0) this.timer?.ref();
    const deadline = call.deadline as number;
    if (deadline < this.armedAt || this.timer === undefined) this.arm(deadline);
  }

  /** A watched call ended. */
  ended(): void {
    if (--this.waiting === 0) this.timer?.unref();
  }

  private arm(at: number): void {
    this.armedAt = at;
    if (this.timer) clearTimeout(this.timer);
    // Node fires delays beyond 2^31 - 1 ms at once; a longer wait is re-armed when it fires.
    this.timer = setTimeout(this.onTimer, Math.min(MAX_DELAY_MS, Math.max(0, at - Date.now())));
    if (this.waiting === 0) this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [ms, fifo] of this.fifos) {
      const items = fifo.items;
      while (fifo.head < items.length) {
        const call = items[fifo.head] as Expiring;
        if (!call.done) {
          if ((call.deadline as number) > now) break;
          call.expire();
        }
        items[fifo.head++] = undefined as unknown as Expiring;
      }
      if (fifo.head === items.length) {
        this.fifos.delete(ms);
        continue;
      }
      if (fifo.head > 1024 && fifo.head * 2 > items.length) {
        fifo.items = items.slice(fifo.head);
        fifo.head = 0;
      }
      next = Math.min(next, (fifo.items[fifo.head] as Expiring).deadline as number);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  /** Stops the timer (the client closed; its calls ended already). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    this.fifos.clear();
    this.waiting = 0;
  }
}

/** Drops the ended calls of `fifo`, keeping the order of the others. */
function compact(fifo: Fifo): void {
  const kept: Expiring[] = [];
  for (let i = fifo.head; i < fifo.items.length; i++) {
    const call = fifo.items[i] as Expiring;
    if (!call.done) kept.push(call);
  }
  fifo.items = kept;
  fifo.head = 0;
}
