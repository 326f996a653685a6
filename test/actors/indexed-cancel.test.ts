import { describe, expect, it } from 'vitest';
import { createActor, createMachine, SimulatedClock } from 'xstate';
import { indexScheduledEvents } from '../../src/actors/indexed-cancel.js';
import { forceStop } from '../../src/actors/supervisor-types.js';
import { advance, createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Stopping an actor cancels its delayed events without scanning those of every other actor in
// the system: a supervisor's sessions share one system, each reconnecting one holds a backoff.
checkLeaksAfterAll();

/**
 * Counts how often the system's table of delayed events is enumerated (XState's own `cancelAll`
 * walks it with for-in on every actor stop). Reaches into XState's internal `_snapshot`, the only
 * place that table lives; the first expectation fails loudly if a new XState moves it.
 */
function countScans(system: unknown): { scans: number } {
  const counter = { scans: 0 };
  const snapshot = (system as { _snapshot?: { _scheduledEvents?: Record<string, unknown> } })._snapshot;
  expect(snapshot?._scheduledEvents, "XState's table of delayed events").toBeTypeOf('object');
  if (!snapshot?._scheduledEvents) return counter;
  snapshot._scheduledEvents = new Proxy(snapshot._scheduledEvents, {
    ownKeys(target) {
      counter.scans++;
      return Reflect.ownKeys(target);
    },
  });
  return counter;
}

/** An event carrying a number (the scheduler's type knows only `type`). */
const numbered = (n: number): { type: string } => ({ type: 'N', n }) as { type: string };

describe('indexed cancelAll', () => {
  it('stopping a supervisor of reconnecting sessions never scans the delayed events of the others', async () => {
    const clock = new SimulatedClock();
    const n = 50;
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: Array.from({ length: n }, (_, i) => ({
        id: `s${i}`,
        connector,
        retry: { initialIntervalMs: 60_000, maxIntervalMs: 60_000, randomizationFactor: 0, maxRetries: null },
      })),
    }).start();
    await flush();
    for (let i = 0; i < n; i++) expect(sup.status(`s${i}`)?.state).toBe('reconnecting');
    const counter = countScans(sup.actor.system);
    expect(await sup.stop()).toEqual({ status: 'stopped' });
    expect(counter.scans).toBe(0);
    // And no backoff survived its session: none is pending, nothing connects once they would have fired.
    expect(Object.keys(sup.actor.system.getSnapshot()._scheduledEvents)).toEqual([]);
    const connects = connector.totals.connects;
    await advance(clock, 120_000);
    expect(connector.totals.connects).toBe(connects);
  });

  it('cancels exactly the stopped actor’s pending events; the others still fire on time', async () => {
    const clock = new SimulatedClock();
    const ticker = createMachine({
      initial: 'waiting',
      states: { waiting: { after: { 1000: 'fired' } }, fired: {} },
    });
    const parent = createMachine({
      initial: 'on',
      states: { on: { after: { 5000: 'late' } }, late: {} },
    });
    const root = createActor(parent, { clock });
    indexScheduledEvents(root.system);
    indexScheduledEvents(root.system); // twice is the same as once
    const a = createActor(ticker, { parent: root });
    const b = createActor(ticker, { parent: root });
    root.start();
    a.start();
    b.start();
    forceStop(a); // as the supervisor stops a child: XState stops only root actors by `stop()`
    const pending = () =>
      Object.values(root.system.getSnapshot()._scheduledEvents).map((e) =>
        e.source === root ? 'root' : e.source === a ? 'a' : 'b',
      );
    expect(pending().sort()).toEqual(['b', 'root']);
    clock.increment(1000);
    expect(a.getSnapshot().value).toBe('waiting'); // its delay was cancelled with it
    expect(b.getSnapshot().value).toBe('fired');
    expect(pending()).toEqual(['root']);
    clock.increment(4000);
    expect(root.getSnapshot().value).toBe('late');
    expect(pending()).toEqual([]);
    // A stop after the event fired, and a second stop, cancel nothing that is not theirs.
    forceStop(b);
    forceStop(b);
    expect(root.getSnapshot().value).toBe('late');
    root.stop();
  });

  it('an event scheduled without an id can still be cancelled by its actor’s stop', () => {
    const clock = new SimulatedClock();
    const root = createActor(createMachine({}), { clock });
    indexScheduledEvents(root.system);
    root.start();
    const received: string[] = [];
    const target = createActor(createMachine({ on: { PING: { actions: () => received.push('PING') } } }), {
      parent: root,
    }).start();
    root.system.scheduler.schedule(root, target, { type: 'PING' }, 100, undefined);
    root.system.scheduler.schedule(target, target, { type: 'PING' }, 100, undefined);
    target.system.scheduler.cancelAll(root);
    clock.increment(100);
    expect(received).toEqual(['PING']); // only the one root did not own
    forceStop(target);
    root.stop();
  });

  it('drops the ids of events that fired, so an actor scheduling many without ids stays small', () => {
    const clock = new SimulatedClock();
    const root = createActor(createMachine({}), { clock });
    // What the index calls to cancel, counted: its own cancelAll cancels only ids it still holds.
    let cancels = 0;
    const xstateCancel = root.system.scheduler.cancel;
    root.system.scheduler.cancel = (source, id) => {
      cancels++;
      xstateCancel(source, id);
    };
    indexScheduledEvents(root.system);
    root.start();
    const received: number[] = [];
    const target = createActor(
      createMachine({
        on: { N: { actions: ({ event }) => received.push((event as unknown as { n: number }).n) } },
      }),
      { parent: root },
    ).start();
    const sender = createActor(createMachine({}), { parent: root }).start();
    for (let n = 0; n < 1000; n++) {
      root.system.scheduler.schedule(sender, target, numbered(n), 10, undefined);
      clock.increment(10); // each fires before the next is scheduled
    }
    root.system.scheduler.schedule(sender, target, numbered(1000), 10, undefined);
    expect(received).toHaveLength(1000);
    cancels = 0;
    forceStop(sender);
    expect(cancels).toBeLessThan(64); // the 1,000 fired ids were pruned along the way
    clock.increment(10);
    expect(received).toHaveLength(1000); // and the one still pending was cancelled with its actor
    forceStop(target);
    root.stop();
  });
});
