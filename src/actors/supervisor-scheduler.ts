import type { Defer } from '../machines/attempt.js';
import type { Clock } from './supervisor-types.js';

/** How long one slice of queued work may run before the scheduler yields to the event loop. */
export const SLICE_MS = 5;
/**
 * How many tasks may run at once (on submit) per turn of the event loop before tasks queue up.
 * Below it nothing is deferred: a supervisor with a few children behaves exactly as if there were
 * no scheduler; only bursts (thousands of completions in one microtask drain) are sliced.
 */
export const INLINE_TASKS = 64;

// Captured once: fake timers installed later (vi.useFakeTimers) must not stall the queue. The
// timers of the actor clock, by contrast, use the global `setTimeout` and `performance` at call
// time, as XState's default clock does, so faked timers drive them.
const setImmediateReal = globalThis.setImmediate;

const perfNow = (): number => performance.now();

/** A timer of the sliced clock; the handle `setTimeout` returns. */
interface Timer {
  readonly fn: () => void;
  /** The bucket it waits in; undefined once it fired or was cleared. */
  bucket: Bucket | undefined;
  cleared: boolean;
}

/** The timers due in the same millisecond, behind one real timer. */
interface Bucket {
  readonly due: number;
  readonly timers: Timer[];
  live: number;
  handle: ReturnType<typeof setTimeout> | undefined;
}

/** A FIFO of `fn, a, b` triples. */
class TaskQueue {
  private items: unknown[] = [];
  private head = 0;

  get size(): number {
    return (this.items.length - this.head) / 3;
  }

  push(fn: unknown, a: unknown, b: unknown): void {
    this.items.push(fn, a, b);
  }

  /** Runs the first task; false when there is none. */
  runFirst(): boolean {
    const items = this.items;
    const i = this.head;
    if (i >= items.length) return false;
    const fn = items[i] as (a: unknown, b: unknown) => void;
    const a = items[i + 1];
    const b = items[i + 2];
    items[i] = items[i + 1] = items[i + 2] = undefined;
    this.head = i + 3;
    if (this.head >= items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 3 * 4096 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    try {
      fn(a, b);
    } catch (err) {
      // One task's error must not stop the others; it surfaces as an uncaught error, as an
      // error thrown by a timer callback would.
      queueMicrotask(() => {
        throw err;
      });
    }
    return true;
  }
}

/**
 * A cooperative, time-sliced run queue for work that arrives in bursts, shared by a supervisor
 * tree. While nothing is queued a task runs at once (up to {@link INLINE_TASKS} per turn of the
 * event loop); beyond that tasks queue up and run in slices of about {@link SLICE_MS} ms with
 * `setImmediate` between slices, so timers, I/O and other work get their turn during a reconnect
 * storm or the start of ten thousand sessions.
 *
 * Two queues, each in submission order. {@link SliceScheduler.submit} is for completions (an
 * attempt's connect, init or run settling): they move sessions already under way.
 * {@link SliceScheduler.submitBackground} is for work that starts something new (spawning a
 * child, a timer that starts the next attempt); it runs when no completion is waiting. Sessions
 * then go through their start one batch after another rather than all in lockstep, so fewer
 * half-started sessions are alive at once: less garbage lives long enough to be promoted.
 *
 * It also provides the actor clock of a supervisor that was given none ({@link SliceScheduler.clock}):
 * timers due in the same millisecond share one real timer, and their callbacks (XState's delayed
 * transitions) go through the queue. A clock the user supplies (a `SimulatedClock`) is used as is,
 * and then there is no scheduler at all: everything runs at once, as it would without one.
 */
export class SliceScheduler {
  /** Completions: they move sessions already under way. */
  private readonly urgent = new TaskQueue();
  /** Spawns and timer callbacks: they start something new. */
  private readonly background = new TaskQueue();
  private readonly sliceMs: number;
  private readonly inlineTasks: number;
  private readonly now: () => number;
  private inlineLeft: number;
  private tickScheduled = false;
  private readonly buckets = new Map<number, Bucket>();
  /** Times it yielded to the event loop with work still queued. */
  yields = 0;

  /** The options are for tests: `now` is the slices' clock (default `performance.now`). */
  constructor(options: { sliceMs?: number; inlineTasks?: number; now?: () => number } = {}) {
    this.sliceMs = options.sliceMs ?? SLICE_MS;
    this.inlineTasks = options.inlineTasks ?? INLINE_TASKS;
    this.now = options.now ?? perfNow;
    this.inlineLeft = this.inlineTasks;
  }

  /** {@link SliceScheduler.submit}, as the `defer` of a session's attempts. */
  readonly defer: Defer = (fn, a, b) => this.submit(fn, a, b);

  /** An XState clock whose callbacks run through this queue. */
  readonly clock: Clock = {
    setTimeout: (fn: (...args: unknown[]) => void, ms: number) => this.setTimer(fn as () => void, ms),
    clearTimeout: (handle: unknown) => this.clearTimer(handle as Timer),
  };

  /** Tasks waiting for a slice. */
  get pending(): number {
    return this.urgent.size + this.background.size;
  }

  /** Runs `fn(a, b)` now or, in a burst, in a later slice, after the completions queued before it. */
  submit<A, B>(fn: (a: A, b: B) => void, a: A, b: B): void {
    if (this.runsAtOnce()) fn(a, b);
    else {
      this.urgent.push(fn, a, b);
      this.scheduleTick();
    }
  }

  /** As {@link submit}, but when queued it waits behind every task queued with `submit`. */
  submitBackground<A, B>(fn: (a: A, b: B) => void, a: A, b: B): void {
    if (this.runsAtOnce()) fn(a, b);
    else {
      this.background.push(fn, a, b);
      this.scheduleTick();
    }
  }

  private runsAtOnce(): boolean {
    if (this.inlineLeft === 0 || this.urgent.size > 0 || this.background.size > 0) return false;
    // The count is reset by the next tick; a burst uses it up and queues the rest.
    if (this.inlineLeft === this.inlineTasks) this.scheduleTick();
    this.inlineLeft--;
    return true;
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediateReal(tick, this);
  }

  /** One slice: runs queued tasks for about SLICE_MS, then yields if any are left. */
  runSlice(): void {
    this.tickScheduled = false;
    this.inlineLeft = this.inlineTasks;
    const deadline = this.now() + this.sliceMs;
    while (this.urgent.runFirst() || this.background.runFirst()) {
      if (this.now() >= deadline) break;
    }
    if (this.pending === 0) return;
    // The rest waits for the next slice, and so does whatever arrives before it.
    this.inlineLeft = 0;
    this.yields++;
    this.scheduleTick();
  }

  private setTimer(fn: () => void, ms: number): Timer {
    const now = performance.now();
    // Never earlier than asked: the bucket's real timer waits until its millisecond has passed.
    const due = Math.ceil(now + Math.max(0, ms));
    let bucket = this.buckets.get(due);
    if (!bucket) {
      bucket = { due, timers: [], live: 0, handle: undefined };
      this.buckets.set(due, bucket);
      // Whole milliseconds: Node keeps a timer list per distinct duration.
      bucket.handle = setTimeout(fireBucket, Math.ceil(due - now), this, bucket);
    }
    const timer: Timer = { fn, bucket, cleared: false };
    bucket.timers.push(timer);
    bucket.live++;
    return timer;
  }

  private clearTimer(timer: Timer | undefined): void {
    if (!timer || timer.cleared) return;
    timer.cleared = true;
    const bucket = timer.bucket;
    if (!bucket) return;
    timer.bucket = undefined;
    if (--bucket.live === 0) {
      clearTimeout(bucket.handle);
      this.buckets.delete(bucket.due);
    }
  }

  /** @internal */
  fire(bucket: Bucket): void {
    this.buckets.delete(bucket.due);
    for (const timer of bucket.timers) {
      if (timer.bucket !== bucket) continue;
      timer.bucket = undefined;
      this.submitBackground(runTimer, timer, undefined);
    }
  }
}

function tick(scheduler: SliceScheduler): void {
  scheduler.runSlice();
}

function fireBucket(scheduler: SliceScheduler, bucket: Bucket): void {
  scheduler.fire(bucket);
}

/** A timer cleared after it fired but before its slice came runs nothing (XState cancelled it). */
function runTimer(timer: Timer): void {
  if (!timer.cleared) {
    timer.cleared = true;
    timer.fn();
  }
}
