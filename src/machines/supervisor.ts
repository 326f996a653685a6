import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { createFailureReport, type FailureReport } from '../core/failure.js';

/** Which siblings are forced to reconnect when a child goes down. */
export type Strategy = 'one-for-one' | 'one-for-all' | 'rest-for-one';

/** How many interventions (respawns and sibling restarts) a supervisor may make within a period. */
export interface Intensity {
  readonly maxRestarts: number;
  readonly periodMs: number;
}

/** How an ended child is described to the supervisor machine. */
export interface ChildExit {
  readonly status: 'fatal' | 'stopped' | 'failed';
  readonly report?: FailureReport;
}

/**
 * The effects a supervisor machine asks of its runtime. `createSupervisor` supplies them; a test can
 * supply its own through the machine's input, or replace the named actions with `.provide()`.
 */
export interface SupervisorOps {
  now(): number;
  /** True when the child's restart type asks for a respawn after this exit (a pure read). */
  shouldRespawn(childId: string, exit: ChildExit): boolean;
  /** Starts a fresh incarnation of a child. */
  respawn(childId: string): void;
  /** The running siblings the strategy names when `childId` goes down (a pure read). */
  siblingsOf(childId: string, strategy: Strategy): string[];
  /** Forces these children to reconnect, telling them why. */
  restartChildren(childIds: string[], reason: string): void;
  /** Starts the initial children, in start order. */
  startChildren(): void;
  /** Stops every child in reverse start order, each bounded by its `shutdownMs`. */
  stopChildren(): Promise<void>;
}

/** Input of the supervisor machine. */
export interface SupervisorMachineInput {
  readonly id: string;
  readonly strategy: Strategy;
  readonly intensity: Intensity;
  readonly ops: SupervisorOps;
}

/** The supervisor machine's context. */
export interface SupervisorContext extends SupervisorMachineInput {
  /** Timestamps of the interventions within the current period. */
  readonly interventions: readonly number[];
  /** Set when the supervisor failed: why. */
  readonly report?: FailureReport;
}

/** Events the supervisor machine handles. */
export type SupervisorEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  | { type: 'CHILD.DOWN'; childId: string; report?: FailureReport }
  | { type: 'CHILD.EXIT'; childId: string; exit: ChildExit }
  | { type: `xstate.done.actor.${string}`; output?: unknown }
  | { type: `xstate.error.actor.${string}`; error?: unknown };

/** The supervisor machine's output: `stopped` on request, `failed` when intensity was exceeded. */
export interface SupervisorOutput {
  readonly status: 'stopped' | 'failed';
  readonly report?: FailureReport;
}

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';

/** Turns XState's done/error relay of a child into a `CHILD.EXIT`, or returns undefined. */
export function toChildExit(
  event: { type: string; output?: unknown; error?: unknown },
  at: number,
): SupervisorEvent | undefined {
  if (event.type.startsWith(DONE_PREFIX)) {
    const output = (event.output ?? { status: 'stopped' }) as ChildExit;
    return { type: 'CHILD.EXIT', childId: event.type.slice(DONE_PREFIX.length), exit: output };
  }
  if (event.type.startsWith(ERROR_PREFIX)) {
    const err = event.error;
    const summary = err instanceof Error ? err.message : String(err);
    return {
      type: 'CHILD.EXIT',
      childId: event.type.slice(ERROR_PREFIX.length),
      exit: {
        status: 'fatal',
        report: createFailureReport({
          phase: 'run',
          kind: 'fatal',
          summary: `actor error: ${summary}`,
          attempt: 0,
          at,
        }),
      },
    };
  }
  return undefined;
}

function recent(context: SupervisorContext, extra: number): number[] {
  const now = context.ops.now();
  const kept = context.interventions.filter((t) => now - t < context.intensity.periodMs);
  for (let i = 0; i < extra; i++) kept.push(now);
  return kept;
}

/**
 * The supervisor: `idle → running → stopping → stopped`, or `running → failing → failed` when
 * more than `intensity.maxRestarts` interventions happen within `intensity.periodMs`.
 * Child actors are registered by the runtime outside this machine's snapshot (their `parent` is this
 * actor), so spawning is linear in the number of children; their done and error events still arrive
 * here (`xstate.done.actor.*`, `xstate.error.actor.*`) and nothing escalates through XState's
 * implicit error path.
 */
export const supervisorMachine = setup({
  types: {
    input: {} as SupervisorMachineInput,
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    output: {} as SupervisorOutput,
  },
  actors: {
    stopChildren: fromPromise<void, { ops: SupervisorOps }>(({ input }) => input.ops.stopChildren()),
  },
  guards: {
    intensityExceeded: ({ context }) => context.interventions.length > context.intensity.maxRestarts,
  },
  actions: {
    startChildren: ({ context }) => context.ops.startChildren(),
    /** A child ended: respawn it if its restart type says so, and count that as an intervention. */
    handleExit: enqueueActions(({ context, event, enqueue }) => {
      const exit = event.type === 'CHILD.EXIT' ? event : toChildExit(event, context.ops.now());
      if (exit?.type !== 'CHILD.EXIT' || !context.ops.shouldRespawn(exit.childId, exit.exit)) return;
      enqueue.assign({ interventions: recent(context, 1) });
      enqueue(() => context.ops.respawn(exit.childId));
    }),
    /** A child went down: the strategy restarts siblings; one application is one intervention. */
    applyStrategy: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CHILD.DOWN' || context.strategy === 'one-for-one') return;
      const siblings = context.ops.siblingsOf(event.childId, context.strategy);
      if (siblings.length === 0) return;
      enqueue.assign({ interventions: recent(context, 1) });
      enqueue(() =>
        context.ops.restartChildren(siblings, `${context.strategy}: sibling '${event.childId}' went down`),
      );
    }),
    recordEscalation: assign({
      report: ({ context }) =>
        createFailureReport({
          phase: 'run',
          kind: 'fatal',
          summary: `supervisor '${context.id}' exceeded its restart intensity (more than ${context.intensity.maxRestarts} restarts in ${context.intensity.periodMs} ms)`,
          code: 'intensity_exceeded',
          attempt: context.interventions.length,
          at: context.ops.now(),
        }),
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, interventions: [] }),
  initial: 'idle',
  // A child's error is data: it is recorded by the runtime, and handled (respawn) only while running.
  // Handling it everywhere keeps XState from erroring this actor for an unhandled child error.
  on: { 'xstate.error.actor.*': {} },
  states: {
    idle: {
      on: { START: 'running', STOP: 'stopped' },
    },
    running: {
      entry: 'startChildren',
      always: { guard: 'intensityExceeded', target: 'failing', actions: 'recordEscalation' },
      on: {
        'CHILD.EXIT': { actions: 'handleExit' },
        'xstate.done.actor.*': { actions: 'handleExit' },
        'xstate.error.actor.*': { actions: 'handleExit' },
        'CHILD.DOWN': { actions: 'applyStrategy' },
        STOP: 'stopping',
      },
    },
    stopping: {
      invoke: {
        src: 'stopChildren',
        input: ({ context }) => ({ ops: context.ops }),
        onDone: 'stopped',
        onError: 'stopped',
      },
    },
    failing: {
      invoke: {
        src: 'stopChildren',
        input: ({ context }) => ({ ops: context.ops }),
        onDone: 'failed',
        onError: 'failed',
      },
    },
    stopped: { type: 'final', output: (): SupervisorOutput => ({ status: 'stopped' }) },
    failed: {
      type: 'final',
      output: ({ context }): SupervisorOutput =>
        context.report ? { status: 'failed', report: context.report } : { status: 'failed' },
    },
  },
  output: ({ event }) => event.output as SupervisorOutput,
});
