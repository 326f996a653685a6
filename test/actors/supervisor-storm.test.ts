import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { INLINE_TASKS } from '../../src/actors/supervisor-scheduler.js';
import type { Connector, RunOutcome, Session, SessionContext } from '../../src/core/connector.js';
import { createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Many sessions under one supervisor without a user clock: the start and a reconnect storm are
// handled in time slices, so the event loop keeps turning while thousands of sessions (re)connect.
checkLeaksAfterAll();

const N = 2000;
const DISCONNECTED: RunOutcome = { type: 'disconnected' };
const RETRY = { initialIntervalMs: 1, randomizationFactor: 0, maxRetries: null } as const;

/** Ends every running session's `run` at once when triggered. */
class Storm {
  private release!: () => void;
  promise = this.next();

  private next(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.release = resolve;
    });
  }

  trigger(): void {
    const release = this.release;
    this.promise = this.next();
    release();
  }
}

/** A connector that is ready at once and runs until the storm (or until its attempt is abandoned). */
function stormConnector(storm: Storm): Connector<number> {
  const session: Session<number> = {
    handle: 1,
    async init() {},
    run(ctx: SessionContext): Promise<RunOutcome> {
      return new Promise<RunOutcome>((resolve) => {
        ctx.signal.addEventListener('abort', () => resolve(DISCONNECTED), { once: true });
        void storm.promise.then(() => resolve(DISCONNECTED));
      });
    },
  };
  return { connect: async () => session, classifyError: () => 'retryable' };
}

function children(storm: Storm, n = N) {
  const connector = stormConnector(storm);
  return Array.from({ length: n }, (_, i) => ({ id: `s${i}`, connector, retry: RETRY }));
}

function readyCounter(sup: ReturnType<typeof createTestSupervisor>, n: number) {
  let count = 0;
  let resolve!: () => void;
  let all = new Promise<void>((r) => {
    resolve = r;
  });
  const timeline: string[] = [];
  sup.on('ready', () => {
    timeline.push('ready');
    if (++count === n) resolve();
  });
  return {
    timeline,
    get count() {
      return count;
    },
    all: () => all,
    reset() {
      count = 0;
      timeline.length = 0;
      all = new Promise<void>((r) => {
        resolve = r;
      });
    },
  };
}

/** Pushes 'turn' into `timeline` on every turn of the event loop until stopped. */
function ticker(timeline: string[]) {
  let running = true;
  const tick = (): void => {
    if (!running) return;
    timeline.push('turn');
    setImmediate(tick);
  };
  setImmediate(tick);
  return () => {
    running = false;
  };
}

/** How many event-loop turns came between the first and the last ready event. */
function turnsAmidReady(timeline: readonly string[]): number {
  const first = timeline.indexOf('ready');
  const last = timeline.lastIndexOf('ready');
  return timeline.slice(first, last).filter((x) => x === 'turn').length;
}

describe('a supervisor of 2,000 sessions without a user clock', () => {
  it('starts them in slices: start() returns early and the event loop turns before all are ready', async () => {
    const storm = new Storm();
    const sup = createTestSupervisor({ id: 'many', children: children(storm) });
    const ready = readyCounter(sup, N);
    const started = (): number => sup.getSnapshot().children.filter((c) => c.status.attempt > 0).length;
    sup.start();
    // The rest waits for the next slices.
    expect(started()).toBeLessThanOrEqual(INLINE_TASKS);
    const stopTicker = ticker(ready.timeline);
    await ready.all();
    stopTicker();
    expect(turnsAmidReady(ready.timeline)).toBeGreaterThan(0);
    expect(started()).toBe(N);
    expect(sup.getSnapshot().children.every((c) => c.status.state === 'ready')).toBe(true);
    expect(await sup.stop({ timeoutMs: 30_000 })).toEqual({ status: 'stopped' });
  });

  it('a reconnect storm yields to the event loop between slices, and every session is ready again', async () => {
    const storm = new Storm();
    const sup = createTestSupervisor({ id: 'storm', children: children(storm) });
    const ready = readyCounter(sup, N);
    sup.start();
    await ready.all();
    ready.reset();

    let seenAtFirstTurn = -1;
    setImmediate(() => {
      seenAtFirstTurn = ready.count;
    });
    const stopTicker = ticker(ready.timeline);
    storm.trigger();
    await ready.all();
    stopTicker();

    // A callback queued at the start of the storm ran before the storm had finished ...
    expect(seenAtFirstTurn).toBeGreaterThanOrEqual(0);
    expect(seenAtFirstTurn).toBeLessThan(N);
    // ... and the event loop kept turning while the sessions became ready again: they did not all
    // reconnect in one synchronous burst (one timer callback or one microtask drain).
    expect(turnsAmidReady(ready.timeline)).toBeGreaterThan(0);
    const snap = sup.getSnapshot();
    expect(snap.children.every((c) => c.status.state === 'ready' && c.status.attempt === 2)).toBe(true);
    expect(await sup.stop({ timeoutMs: 30_000 })).toEqual({ status: 'stopped' });
  });

  it('children start and become ready in start order; add() during a sliced start queues behind', async () => {
    const storm = new Storm();
    const sup = createTestSupervisor({ id: 'order', children: children(storm) });
    const order: string[] = [];
    let resolve!: () => void;
    const all = new Promise<void>((r) => {
      resolve = r;
    });
    sup.on('ready', ({ child }) => {
      order.push(child);
      if (order.length === N + 1) resolve();
    });
    sup.start();
    sup.add({ id: 'late', connector: stormConnector(storm), retry: RETRY });
    expect(sup.status('late')?.attempt).toBe(0);
    await all;
    expect(order).toEqual([...Array.from({ length: N }, (_, i) => `s${i}`), 'late']);
    expect(await sup.stop({ timeoutMs: 30_000 })).toEqual({ status: 'stopped' });
  });

  it('stop() during a sliced start: the children not yet started never start', async () => {
    const storm = new Storm();
    const sup = createTestSupervisor({ id: 'early', children: children(storm) });
    const started = (): number => sup.getSnapshot().children.filter((c) => c.status.attempt > 0).length;
    sup.start();
    const stopping = sup.stop({ timeoutMs: 30_000 });
    expect(await stopping).toEqual({ status: 'stopped' });
    const atStop = started();
    expect(atStop).toBeGreaterThan(0);
    expect(atStop).toBeLessThanOrEqual(INLINE_TASKS);
    await flush(4);
    expect(started()).toBe(atStop);
    expect(
      sup.getSnapshot().children.every((c) => c.status.state === 'stopped' || c.status.attempt === 0),
    ).toBe(true);
  });
});

describe('with a user clock', () => {
  it('nothing is sliced: start() starts every child at once', async () => {
    const storm = new Storm();
    const sup = createTestSupervisor({
      id: 'sim',
      clock: new SimulatedClock(),
      children: children(storm, 300),
    });
    sup.start();
    expect(sup.getSnapshot().children.every((c) => c.status.attempt === 1)).toBe(true);
    expect(await sup.stop()).toEqual({ status: 'stopped' });
  });
});
