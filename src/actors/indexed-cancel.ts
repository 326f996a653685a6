import type { AnyActorRef } from 'xstate';

type ActorSystem = AnyActorRef['system'];
type Scheduler = ActorSystem['scheduler'];

const indexed = new WeakSet<Scheduler>();

/**
 * Makes an actor system's `cancelAll` cost what the stopping actor scheduled, not what the whole
 * system scheduled.
 *
 * XState stops every actor with `scheduler.cancelAll(actor)`, which scans every delayed event of
 * the system for those of that actor. A supervisor's sessions share its system, and a reconnecting
 * session holds its backoff as a delayed event. So stopping N reconnecting sessions one after the
 * other (reverse start order, as a supervisor must) scanned N, N - 1, ... events: 10,000 sessions
 * took 23 s to stop. With this index, they take time linear in N.
 *
 * The wrapper keeps, per source actor, the ids it scheduled and has not cancelled. An id whose
 * event has fired stays until the actor cancels it or stops: cancelling a fired id does nothing,
 * and delayed transitions (`after`) reuse one id per state, so the set stays small. What runs is
 * XState's own `schedule` and `cancel`, so the delayed events themselves, their clock and the
 * system's snapshot of them do not change. Installed once per system; idempotent.
 */
export function indexScheduledEvents(system: ActorSystem): void {
  const scheduler = system.scheduler;
  if (indexed.has(scheduler)) return;
  indexed.add(scheduler);
  const schedule = scheduler.schedule;
  const cancel = scheduler.cancel;
  const bySource = new Map<AnyActorRef, Set<string>>();
  scheduler.schedule = (source, target, event, delay, id) => {
    // XState's default for an event without an id; needed here to know what to cancel later.
    const key = id ?? Math.random().toString(36).slice(2);
    schedule(source, target, event, delay, key);
    let ids = bySource.get(source);
    if (ids === undefined) {
      ids = new Set();
      bySource.set(source, ids);
    }
    ids.add(key);
  };
  scheduler.cancel = (source, id) => {
    cancel(source, id);
    const ids = bySource.get(source);
    if (ids?.delete(id) && ids.size === 0) bySource.delete(source);
  };
  scheduler.cancelAll = (source) => {
    const ids = bySource.get(source);
    if (ids === undefined) return;
    bySource.delete(source);
    for (const id of ids) cancel(source, id);
  };
}
