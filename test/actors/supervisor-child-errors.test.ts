import { describe, expect, it } from 'vitest';
import {
  type AnyActorLogic,
  type AnyActorRef,
  createActor,
  fromCallback,
  fromPromise,
  SimulatedClock,
} from 'xstate';
import type { FailureReport } from '../../src/core/failure.js';
import { type ChildExit, type SupervisorOps, supervisorMachine } from '../../src/machines/supervisor.js';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Every child error is handled by the supervisor machine: nothing escalates through XState's
// implicit error path (which would error the supervisor itself), and no child is left orphaned.
checkLeaksAfterAll();

/** Ops that record what the machine asks of its runtime. */
function recordingOps(respawn: boolean) {
  const exits: Array<[string, ChildExit]> = [];
  const respawned: string[] = [];
  let stops = 0;
  const ops: SupervisorOps = {
    now: () => 1234,
    shouldRespawn: (childId, exit) => {
      exits.push([childId, exit]);
      return respawn;
    },
    respawn: (childId) => respawned.push(childId),
    siblingsOf: () => [],
    restartChildren: () => {},
    startChildren: () => {},
    stopChildren: async () => {
      stops++;
    },
  };
  return { ops, exits, respawned, stops: () => stops };
}

const input = (ops: SupervisorOps) => ({
  id: 'sup',
  strategy: 'one-for-one' as const,
  intensity: { maxRestarts: 3, periodMs: 5000 },
  ops,
});

/**
 * A `startChildren` that starts `logic` as a child of the supervisor actor, outside its snapshot:
 * the way the runtime starts sessions, so its done and error events reach the machine.
 */
function startChild(logic: AnyActorLogic, id: string) {
  const started: AnyActorRef[] = [];
  const action = ({ self }: { self: AnyActorRef }) => {
    started.push(createActor(logic, { parent: self, id, systemId: `sup/${id}#1` }).start());
  };
  return { action, started };
}

const actorError = (summary: string): FailureReport => ({
  phase: 'run',
  kind: 'fatal',
  summary: `actor error: ${summary}`,
  attempt: 0,
  at: 1234,
});

describe('the supervisor machine, with a child provided to fail', () => {
  it('a child that throws as it starts is a fatal exit with a report, handled by the restart logic', async () => {
    const bad = startChild(
      fromCallback(() => {
        throw new Error('boom');
      }),
      'bad',
    );
    const machine = supervisorMachine.provide({ actions: { startChildren: bad.action } });
    const rec = recordingOps(true);
    const actor = createActor(machine, { input: input(rec.ops) }).start();
    actor.send({ type: 'START' });
    const snap = actor.getSnapshot();
    // Not escalated: the supervisor is still running, not errored.
    expect(snap.status).toBe('active');
    expect(snap.value).toBe('running');
    expect(rec.exits).toEqual([['bad', { status: 'fatal', report: actorError('boom') }]]);
    expect(rec.respawned).toEqual(['bad']);
    expect(snap.context.interventions).toEqual([1234]);
    // Nothing orphaned: the errored child is stopped and gone from the system.
    expect(bad.started[0]?.getSnapshot().status).toBe('error');
    expect(actor.system.get('sup/bad#1')).toBeUndefined();
    actor.send({ type: 'STOP' });
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
    expect(actor.getSnapshot().output).toEqual({ status: 'stopped' });
    expect(rec.stops()).toBe(1);
  });

  it('a child that rejects later, while the supervisor is stopping, does not error the supervisor', async () => {
    let rejectChild: (err: Error) => void = () => {};
    let finishStopping: () => void = () => {};
    const machine = supervisorMachine.provide({
      actions: {
        startChildren: startChild(
          fromPromise(
            () =>
              new Promise<void>((_, reject) => {
                rejectChild = reject;
              }),
          ),
          'late',
        ).action,
      },
      actors: {
        stopChildren: fromPromise<void, { ops: SupervisorOps }>(
          () =>
            new Promise<void>((resolve) => {
              finishStopping = resolve;
            }),
        ),
      },
    });
    const rec = recordingOps(true);
    const actor = createActor(machine, { input: input(rec.ops) }).start();
    actor.send({ type: 'START' });
    actor.send({ type: 'STOP' });
    expect(actor.getSnapshot().value).toBe('stopping');
    rejectChild(new Error('late failure'));
    await flush();
    expect(actor.getSnapshot().status).toBe('active');
    expect(actor.getSnapshot().value).toBe('stopping');
    // Only a running supervisor respawns.
    expect(rec.exits).toEqual([]);
    finishStopping();
    await flush();
    expect(actor.getSnapshot().output).toEqual({ status: 'stopped' });
  });

  it('a stopChildren actor that fails still ends the supervisor: stopped, or failed with its report', async () => {
    const machine = supervisorMachine.provide({
      actors: {
        stopChildren: fromPromise<void, { ops: SupervisorOps }>(async () => {
          throw new Error('could not stop');
        }),
      },
    });
    const stopping = createActor(machine, { input: input(recordingOps(true).ops) }).start();
    stopping.send({ type: 'START' });
    stopping.send({ type: 'STOP' });
    await flush();
    expect(stopping.getSnapshot().status).toBe('done');
    expect(stopping.getSnapshot().output).toEqual({ status: 'stopped' });

    // Intensity 0: the first respawn is one too many, and failing's stopChildren fails too.
    const failing = createActor(
      machine.provide({
        actions: {
          startChildren: startChild(
            fromCallback(() => {
              throw new Error('boom');
            }),
            'bad',
          ).action,
        },
      }),
      { input: { ...input(recordingOps(true).ops), intensity: { maxRestarts: 0, periodMs: 5000 } } },
    ).start();
    failing.send({ type: 'START' });
    await flush();
    expect(failing.getSnapshot().status).toBe('done');
    expect(failing.getSnapshot().output).toMatchObject({
      status: 'failed',
      report: { kind: 'fatal', code: 'intensity_exceeded' },
    });
  });
});

describe('createSupervisor, with a session actor that errors', () => {
  // The session machine handles every error of its connector; what it cannot handle is an error in
  // its own actions, e.g. from the random source the supervisor was given (used for jitter).
  const broken = () => {
    throw new Error('no entropy');
  };

  it('the child is fatal with a report, its attempt is stopped and its session closed', async () => {
    const connector = createScriptedConnector([{ run: { fail: 'retryable' } }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      random: broken,
      children: [{ id: 'db', connector, restart: 'temporary' }],
    });
    const failed: unknown[] = [];
    const down: unknown[] = [];
    sup.on('failed', (e) => failed.push(e));
    sup.on('down', (e) => down.push(e));
    sup.start();
    const ref = sup.actor.system.get('root/db#1') as AnyActorRef | undefined;
    const attempt = ref?.getSnapshot().children.attempt as AnyActorRef | undefined;
    await flush();
    expect(ref?.getSnapshot().status).toBe('error');
    const report = { phase: 'run', kind: 'fatal', summary: 'actor error: no entropy', attempt: 1 };
    expect(sup.status('db')).toMatchObject({ state: 'fatal', lastFailure: report });
    expect(failed).toEqual([{ child: 'db', report: expect.objectContaining(report) }]);
    expect(down).toEqual([expect.objectContaining({ child: 'db', from: 'ready', to: 'fatal' })]);
    // XState leaves an errored machine's children running: the supervisor stopped this one.
    expect(attempt?.getSnapshot().status).toBe('stopped');
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(1);
    // The supervisor itself did not error.
    expect(sup.actor.getSnapshot()).toMatchObject({ status: 'active', value: 'running' });
    expect(await sup.stop()).toEqual({ status: 'stopped' });
    expect(connector.closeCalls(1)).toBe(1);
  });

  it('a child that errors is respawned by its restart type, until the intensity is exceeded', async () => {
    const connector = createScriptedConnector([{ run: { fail: 'retryable' } }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      random: broken,
      intensity: { maxRestarts: 2 },
      children: [{ id: 'db', connector, restart: 'permanent' }],
    }).start();
    await flush();
    // Three incarnations (two respawns), the third respawn is one too many.
    expect(connector.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([1, 1, 1]);
    expect(sup.actor.getSnapshot().status).toBe('done');
    expect(sup.getSnapshot()).toMatchObject({ state: 'failed', report: { code: 'intensity_exceeded' } });
    expect(sup.status('db')).toMatchObject({
      state: 'fatal',
      restarts: 2,
      lastFailure: { summary: 'actor error: no entropy' },
    });
    expect(Object.keys(sup.actor.system.getAll())).toEqual([]);
  });
});
