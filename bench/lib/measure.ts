/**
 * Small helpers shared by the benchmarks in `bench/`: garbage collection and heap readings,
 * event-loop delay, deferred promises, figures and tables. No dependencies beyond Node.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A promise with its `resolve` exposed. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Milliseconds since some fixed point, with sub-millisecond resolution. */
export const now = (): number => performance.now();

/**
 * CPU time of the main JavaScript thread in milliseconds (Linux: `/proc/self/task/<pid>/stat`,
 * 10 ms resolution), which leaves out GC helper threads and time the thread spent waiting for a
 * core. On a shared machine it is far steadier than wall time. Elsewhere it falls back to the
 * whole process's `process.cpuUsage()`.
 */
export function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}
/** Linux clock ticks per second (`getconf CLK_TCK`), 100 on every mainstream distribution. */
const CLOCK_TICKS = 100;

let gcFn: (() => void) | undefined;

/**
 * The V8 garbage collector. Uses `global.gc` when Node was started with `--expose-gc`; otherwise
 * turns the flag on at run time and fetches `gc` from a fresh context, so `tsx bench/x.ts` works too.
 */
export function gc(): () => void {
  if (gcFn) return gcFn;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') {
    gcFn = exposed;
  } else {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  return gcFn;
}

/** True when the process was started with `--expose-gc` (rather than the run-time fallback). */
export const gcExposedByFlag = (): boolean => typeof (globalThis as { gc?: unknown }).gc === 'function';

/** Runs full garbage collections (and lets finalizers and pending ticks run) and returns `heapUsed`. */
export async function settledHeapUsed(): Promise<number> {
  const collect = gc();
  for (let i = 0; i < 3; i++) {
    collect();
    await sleep(0);
  }
  collect();
  return process.memoryUsage().heapUsed;
}

/**
 * Records the event loop's worst delay between `start()` and `stop()`, in milliseconds.
 * The histogram records the gap between two ticks of its timer and discards its first tick, so
 * `start()` lets a few ticks pass before it resolves: a synchronous burst right after `enable()`
 * would otherwise go unseen.
 */
export class LoopDelay {
  private readonly histogram = monitorEventLoopDelay({ resolution: 1 });

  async start(): Promise<void> {
    this.histogram.reset();
    this.histogram.enable();
    await sleep(10);
  }

  /**
   * Stops recording and returns the worst delay seen (ms); NaN when no tick was recorded.
   * It first lets the timer tick once more: a burst that ended in microtasks only is recorded
   * by the next tick, not by `disable()`.
   */
  async stop(): Promise<number> {
    await sleep(3);
    this.histogram.disable();
    if (this.histogram.count === 0) return Number.NaN;
    return this.histogram.max / 1e6;
  }
}

/**
 * Sums the main thread's garbage-collection pauses between `start()` and `stop()` (ms), from
 * `PerformanceObserver` 'gc' entries. GC entries are delivered asynchronously, so `stop()` waits a
 * tick for the last ones.
 */
export class GcPauses {
  private total = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.total += entry.duration;
  });

  start(): void {
    this.total = 0;
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async stop(): Promise<number> {
    await sleep(0);
    this.observer.disconnect();
    return this.total;
  }
}

/** The median of some numbers: the mean of the middle two for an even count; NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Formats a number with a fixed count of decimals, or `—` for NaN. */
export function fmt(value: number, decimals = 0): string {
  if (Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

/** Formats a ratio `a / b` as `1.23×`. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

/** Renders rows as a plain-text table; columns after the first are right-aligned. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** Runs `op` from `concurrency` workers for `ms`; returns the latencies (ms) of the calls started in time. */
export async function drive(op: () => Promise<unknown>, concurrency: number, ms: number): Promise<number[]> {
  const stopAt = performance.now() + ms;
  const latencies: number[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= stopAt) return;
      await op();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}
