import { afterEach, describe, expect, it, vi } from 'vitest';
import { INLINE_TASKS, SliceScheduler } from '../../src/actors/supervisor-scheduler.js';
import { flush } from '../../src/testing/index.js';

// The sliced run queue on its own: order, the inline budget, slices and yielding, and the clock.

/** A slice clock that moves 1 ms each time it is read: every task "takes" 1 ms. */
function steppingClock(): () => number {
  let t = 0;
  return () => t++;
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('SliceScheduler: tasks', () => {
  it('runs a task at once while nothing is queued, passing both arguments', () => {
    const s = new SliceScheduler();
    const seen: Array<[number, string]> = [];
    s.submit((a: number, b: string) => seen.push([a, b]), 1, 'x');
    expect(seen).toEqual([[1, 'x']]);
    expect(s.pending).toBe(0);
  });

  it('runs up to INLINE_TASKS at once per turn of the event loop, queues the rest in order', async () => {
    const s = new SliceScheduler();
    const ran: number[] = [];
    for (let i = 0; i < INLINE_TASKS + 10; i++) s.submit((n: number) => ran.push(n), i, undefined);
    expect(ran).toEqual(Array.from({ length: INLINE_TASKS }, (_, i) => i));
    expect(s.pending).toBe(10);
    await immediate();
    expect(ran).toEqual(Array.from({ length: INLINE_TASKS + 10 }, (_, i) => i));
    expect(s.pending).toBe(0);
    // The budget is renewed on the next turn: a lone task runs at once again.
    await immediate();
    s.submit((n: number) => ran.push(n), -1, undefined);
    expect(ran.at(-1)).toBe(-1);
  });

  it('keeps submission order: a task submitted while others wait runs after them', async () => {
    const s = new SliceScheduler({ inlineTasks: 0 });
    const ran: string[] = [];
    s.submit((x: string) => ran.push(x), 'a', undefined);
    s.submit(
      (x: string) => {
        ran.push(x);
        // Submitted while running: behind 'c', which was already waiting.
        s.submit((y: string) => ran.push(y), 'd', undefined);
      },
      'b',
      undefined,
    );
    s.submit((x: string) => ran.push(x), 'c', undefined);
    expect(ran).toEqual([]);
    await flush();
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
  });

  it('background work waits behind every queued completion; each queue keeps its order', async () => {
    const s = new SliceScheduler({ inlineTasks: 0 });
    const ran: string[] = [];
    const record = (x: string): void => {
      ran.push(x);
    };
    s.submitBackground(record, 'spawn 1', undefined);
    s.submit(record, 'completion 1', undefined);
    s.submitBackground(
      (x: string) => {
        ran.push(x);
        // A completion that arrives meanwhile goes ahead of the background work still waiting.
        s.submit(record, 'completion of spawn 2', undefined);
      },
      'spawn 2',
      undefined,
    );
    s.submit(record, 'completion 2', undefined);
    s.submitBackground(record, 'spawn 3', undefined);
    await flush();
    expect(ran).toEqual([
      'completion 1',
      'completion 2',
      'spawn 1',
      'spawn 2',
      'completion of spawn 2',
      'spawn 3',
    ]);
  });

  it('a fired timer is background work: it waits behind queued completions', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const s = new SliceScheduler({ inlineTasks: 0 });
    const ran: string[] = [];
    s.clock.setTimeout(() => ran.push('timer'), 1);
    vi.advanceTimersByTime(1);
    s.submit((x: string) => ran.push(x), 'completion', undefined);
    await flush();
    expect(ran).toEqual(['completion', 'timer']);
  });

  it('runs a slice for sliceMs, then yields to the event loop before the next one', async () => {
    const s = new SliceScheduler({ inlineTasks: 0, sliceMs: 10, now: steppingClock() });
    let ran = 0;
    for (let i = 0; i < 100; i++) s.submit(() => ran++, undefined, undefined);
    const turns: number[] = [];
    // A callback queued before the first slice runs after it: the event loop turns between slices.
    setImmediate(() => turns.push(ran));
    await immediate();
    expect(turns).toHaveLength(1);
    expect(turns[0]).toBeGreaterThan(0);
    expect(turns[0]).toBeLessThan(100);
    while (s.pending > 0) await immediate();
    expect(ran).toBe(100);
    // 100 tasks of 1 ms in slices of about 10 ms.
    expect(s.yields).toBeGreaterThanOrEqual(8);
    expect(s.yields).toBeLessThanOrEqual(11);
  });

  it('what arrives while tasks wait for the next slice waits too (no jumping the queue)', async () => {
    const s = new SliceScheduler({ inlineTasks: 4, sliceMs: 2, now: steppingClock() });
    const ran: number[] = [];
    for (let i = 0; i < 10; i++) s.submit((n: number) => ran.push(n), i, undefined);
    await immediate(); // one slice: the queue is not empty yet
    expect(s.pending).toBeGreaterThan(0);
    s.submit((n: number) => ran.push(n), 99, undefined);
    expect(ran).not.toContain(99);
    while (s.pending > 0) await immediate();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
  });

  it('a task that throws does not stop the others; its error surfaces as uncaught', async () => {
    const s = new SliceScheduler({ inlineTasks: 0 });
    const uncaught: unknown[] = [];
    const listener = (err: unknown): void => {
      uncaught.push(err);
    };
    // vitest reports uncaught errors of the test itself; catch this one where it surfaces.
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (fn: () => void): void =>
      original(() => {
        try {
          fn();
        } catch (err) {
          listener(err);
        }
      });
    try {
      const ran: string[] = [];
      s.submit(
        () => {
          throw new Error('boom');
        },
        undefined,
        undefined,
      );
      s.submit(() => ran.push('after'), undefined, undefined);
      await flush();
      expect(ran).toEqual(['after']);
      expect(uncaught).toHaveLength(1);
      expect((uncaught[0] as Error).message).toBe('boom');
    } finally {
      globalThis.queueMicrotask = original;
    }
  });
});

describe('SliceScheduler: clock', () => {
  it('fires timers in order, through the queue, after their delay', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const s = new SliceScheduler();
    const fired: string[] = [];
    s.clock.setTimeout(() => fired.push('b'), 20);
    s.clock.setTimeout(() => fired.push('a'), 10);
    s.clock.setTimeout(() => fired.push('c'), 20);
    vi.advanceTimersByTime(9);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['a', 'b', 'c']);
  });

  it('timers due in the same millisecond share one real timer', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const s = new SliceScheduler();
    const before = vi.getTimerCount();
    for (let i = 0; i < 1000; i++) s.clock.setTimeout(() => {}, 50);
    s.clock.setTimeout(() => {}, 60);
    expect(vi.getTimerCount() - before).toBe(2);
  });

  it('a cleared timer never runs; the real timer goes when its last timer is cleared', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const s = new SliceScheduler();
    const fired: number[] = [];
    const one = s.clock.setTimeout(() => fired.push(1), 5);
    const two = s.clock.setTimeout(() => fired.push(2), 5);
    s.clock.clearTimeout(one);
    expect(vi.getTimerCount()).toBe(1);
    s.clock.clearTimeout(two);
    expect(vi.getTimerCount()).toBe(0);
    s.clock.clearTimeout(two); // twice is harmless
    vi.advanceTimersByTime(10);
    expect(fired).toEqual([]);
  });

  it('a timer cleared after it fired but before its slice ran never runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const s = new SliceScheduler({ inlineTasks: 0 });
    const fired: number[] = [];
    const handle = s.clock.setTimeout(() => fired.push(1), 1);
    s.clock.setTimeout(() => fired.push(2), 1);
    vi.advanceTimersByTime(1);
    // Both fired into the queue; the queue's slices run on the real setImmediate.
    expect(s.pending).toBe(2);
    s.clock.clearTimeout(handle);
    await flush();
    expect(fired).toEqual([2]);
    expect(s.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
