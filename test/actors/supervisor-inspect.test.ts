import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Actor, type AnyActorRef, type InspectionEvent, SimulatedClock } from 'xstate';
import type { SupervisorActor } from '../../src/actors/supervisor.js';
import type { SupervisorOutput, supervisorMachine } from '../../src/machines/supervisor.js';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// The `inspect` option and `sup.actor`: an XState inspector sees the supervisor and every session
// under it; the actor is typed as the supervisor machine's.
checkLeaksAfterAll();

/** The states an inspector saw one actor in, in order. */
function statesOf(events: readonly InspectionEvent[], actor: AnyActorRef | undefined): string[] {
  return events.flatMap((e) =>
    e.type === '@xstate.snapshot' && e.actorRef === actor
      ? [String((e.snapshot as { value?: unknown }).value)]
      : [],
  );
}

describe('the inspect option', () => {
  it('passes an inspector function through: it receives events of the supervisor and of its sessions', async () => {
    const events: InspectionEvent[] = [];
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      inspect: (e) => events.push(e),
      children: [
        { id: 'db', connector: createScriptedConnector([{}]) },
        { id: 'group', supervisor: { children: [{ id: 'x', connector: createScriptedConnector([{}]) }] } },
      ],
    }).start();
    await flush();
    const db = sup.actor.system.get('root/db#1');
    const x = sup.actor.system.get('root/group#1/x#1');
    expect(db).toBeDefined();
    expect(x).toBeDefined();

    const created = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef);
    expect(created).toContain(sup.actor);
    expect(created).toContain(db);
    expect(created).toContain(x);
    // The supervisor's own events, and each session's transitions up to ready.
    expect(
      events.some((e) => e.type === '@xstate.event' && e.actorRef === sup.actor && e.event.type === 'START'),
    ).toBe(true);
    expect(statesOf(events, sup.actor)).toContain('running');
    expect(statesOf(events, db)).toEqual(['connecting', 'initializing', 'ready']);
    expect(statesOf(events, x)).toEqual(['connecting', 'initializing', 'ready']);
    // The attempt actors a session runs are inspected too (their events go to the session).
    expect(
      events.some(
        (e) => e.type === '@xstate.event' && e.actorRef === db && e.event.type === 'ATTEMPT.INITIALIZED',
      ),
    ).toBe(true);

    const before = events.length;
    await sup.stop();
    expect(statesOf(events.slice(before), db)).toEqual(['stopping', 'stopped']);
  });

  it('accepts an observer object', async () => {
    const types = new Set<string>();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      inspect: { next: (e) => types.add(e.type) },
      children: [{ id: 'db', connector: createScriptedConnector([{}]) }],
    }).start();
    await flush();
    expect([...types].sort()).toEqual([
      '@xstate.action',
      '@xstate.actor',
      '@xstate.event',
      '@xstate.microstep',
      '@xstate.snapshot',
    ]);
    await sup.stop();
  });
});

describe('sup.actor', () => {
  it('is the supervisor machine actor, typed as such (no any)', async () => {
    const sup = createTestSupervisor({ id: 'root', clock: new SimulatedClock() });
    // Checked by the type checker (`npm run typecheck` covers test/).
    expectTypeOf(sup.actor).not.toBeAny();
    expectTypeOf(sup.actor).toEqualTypeOf<SupervisorActor>();
    expectTypeOf(sup.actor).toEqualTypeOf<Actor<typeof supervisorMachine>>();
    expectTypeOf(sup.actor.getSnapshot().value).toEqualTypeOf<
      'idle' | 'running' | 'stopping' | 'failing' | 'stopped' | 'failed'
    >();
    expectTypeOf(sup.actor.getSnapshot().context.interventions).toEqualTypeOf<readonly number[]>();
    expectTypeOf(sup.ended()).resolves.toEqualTypeOf<SupervisorOutput>();
    // And at run time, the same actor.
    sup.start();
    expect(sup.actor.getSnapshot().value).toBe('running');
    expect(sup.actor.getSnapshot().context.id).toBe('root');
    await sup.stop();
    expect(sup.actor.getSnapshot().output).toEqual({ status: 'stopped' });
  });
});
