import { assign, fromPromise, setup } from 'xstate';
import { messageOf } from '../core/errors.js';
import { createFailureReport, type FailureReport } from '../core/failure.js';

/** States of a transport server. `stopped` and `failed` are final. */
export type TransportServerState = 'idle' | 'starting' | 'listening' | 'draining' | 'stopped' | 'failed';

/** The transport server machine's context. */
export interface TransportServerContext {
  readonly address: string | undefined;
  readonly report: FailureReport | undefined;
  readonly drainMs: number;
  /** STOP arrived while starting: drain as soon as listening. */
  readonly stopRequested: boolean;
}

/** Events the transport server machine handles. */
export type TransportServerEvent =
  | { type: 'START' }
  | { type: 'STOP'; drainMs?: number }
  | { type: 'FAIL'; summary: string; code?: string };

/**
 * The lifecycle of every transport server: `idle → starting → listening → draining → stopped`, or
 * `failed` with a report (e.g. `EADDRINUSE` while starting). The I/O is two actors the server
 * supplies with `.provide()`: `listen` (resolves to the address) and `drain` (drains endpoints and
 * closes the listener and connections).
 */
export const transportServerMachine = setup({
  types: {
    context: {} as TransportServerContext,
    events: {} as TransportServerEvent,
  },
  actors: {
    listen: fromPromise<string>(async () => {
      throw new Error('listen is supplied by the transport with .provide()');
    }),
    drain: fromPromise<void, { drainMs: number }>(async () => {}),
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested,
    failedWhileListening: ({ context }) => context.report !== undefined,
  },
}).createMachine({
  id: 'transportServer',
  context: { address: undefined, report: undefined, drainMs: 5000, stopRequested: false },
  initial: 'idle',
  states: {
    idle: {
      on: { START: 'starting', STOP: 'stopped' },
    },
    starting: {
      invoke: {
        src: 'listen',
        onDone: { target: 'listening', actions: assign({ address: ({ event }) => event.output }) },
        onError: {
          target: 'failed',
          actions: assign({
            report: ({ event }) =>
              createFailureReport({
                phase: 'connect',
                kind: 'fatal',
                summary: messageOf(event.error),
                code: (event.error as { code?: string } | undefined)?.code,
                attempt: 1,
                at: Date.now(),
              }),
          }),
        },
      },
      on: {
        STOP: { actions: assign({ drainMs: ({ event }) => event.drainMs ?? 5000, stopRequested: true }) },
      },
    },
    listening: {
      always: { guard: 'stopRequested', target: 'draining' },
      on: {
        STOP: { target: 'draining', actions: assign({ drainMs: ({ event }) => event.drainMs ?? 5000 }) },
        FAIL: {
          target: 'draining',
          actions: assign({
            drainMs: 0,
            report: ({ event }) =>
              createFailureReport({
                phase: 'run',
                kind: 'fatal',
                summary: event.summary,
                code: event.code,
                attempt: 1,
                at: Date.now(),
              }),
          }),
        },
      },
    },
    draining: {
      invoke: {
        src: 'drain',
        input: ({ context }) => ({ drainMs: context.drainMs }),
        onDone: [{ guard: 'failedWhileListening', target: 'failed' }, { target: 'stopped' }],
        onError: 'stopped',
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
