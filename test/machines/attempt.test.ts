import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { assign, createActor, sendTo, setup } from 'xstate';
import type { Connector } from '../../src/core/connector.js';
import { type AttemptCommand, type AttemptEvent, attemptLogic } from '../../src/machines/attempt.js';
import { createScriptedConnector, flush, type Script } from '../../src/testing/index.js';

// The attempt actor on its own: one per session, driving each attempt it is told to START.

/** A parent that hosts the attempt actor, passes it commands and records what it sends back. */
const host = setup({
  types: {
    context: {} as { connector: Connector<unknown>; received: Array<AttemptEvent['type']> },
    events: {} as AttemptEvent | { type: 'COMMAND'; command: AttemptCommand },
    input: {} as { connector: Connector<unknown> },
  },
  actors: { attempts: attemptLogic },
}).createMachine({
  context: ({ input }) => ({ connector: input.connector, received: [] }),
  invoke: {
    src: 'attempts',
    id: 'attempts',
    input: ({ context }) => ({
      connector: context.connector,
      now: () => 0,
      makeLog: () => pino({ level: 'silent' }),
    }),
  },
  on: {
    COMMAND: {
      actions: sendTo('attempts', ({ event }) =>
        event.type === 'COMMAND' ? event.command : { type: 'ABANDON' as const },
      ),
    },
    'ATTEMPT.*': { actions: assign({ received: ({ context, event }) => [...context.received, event.type] }) },
  },
});

function hosted(script: Script) {
  const connector = createScriptedConnector(script);
  const actor = createActor(host, { input: { connector } }).start();
  return {
    connector,
    actor,
    send: (command: AttemptCommand) => actor.send({ type: 'COMMAND', command }),
    received: () => actor.getSnapshot().context.received,
  };
}

describe('attemptLogic', () => {
  it('START runs that attempt: the connector sees its number, and its results come back as events', async () => {
    const h = hosted([{}]);
    expect(h.connector.totals.connects).toBe(0);
    h.send({ type: 'START', attempt: 3 });
    await flush();
    expect(h.connector.attempts.map((a) => [a.attempt, a.phases])).toEqual([[3, ['connect', 'init', 'run']]]);
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED', 'ATTEMPT.INITIALIZED']);
    h.actor.stop();
  });

  it('START while an attempt runs abandons it first: aborted, closed once, silent from then on', async () => {
    const h = hosted([{}, { init: 'hang' }]);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    h.send({ type: 'START', attempt: 2 });
    expect(h.connector.attempt(1)?.signalAborted).toBe(true);
    expect(h.connector.closeCalls(1)).toBe(1);
    await flush();
    // Attempt 1's run ended with the abort, and said nothing; attempt 2 connected.
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED', 'ATTEMPT.INITIALIZED', 'ATTEMPT.CONNECTED']);
    expect(h.connector.attempt(2)?.signalAborted).toBe(false);
    h.actor.stop();
  });

  it('ABANDON aborts and closes once without an answer; CLOSE answers once every close() settled', async () => {
    const h = hosted([{ close: 'manual' }, { close: 'manual' }]);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    h.send({ type: 'ABANDON' });
    h.send({ type: 'ABANDON' });
    expect(h.connector.attempt(1)?.signalAborted).toBe(true);
    expect(h.connector.closeCalls(1)).toBe(1);
    h.send({ type: 'START', attempt: 2 });
    await flush();
    h.send({ type: 'CLOSE' });
    await flush();
    expect(h.connector.closeCalls(2)).toBe(1);
    h.connector.endClose(2);
    await flush();
    // Attempt 1's session, left earlier, is still closing.
    expect(h.received()).not.toContain('ATTEMPT.CLOSED');
    h.connector.endClose(1);
    await flush();
    expect(h.received().filter((t) => t === 'ATTEMPT.CLOSED')).toHaveLength(1);
    expect(h.connector.attempts.map((a) => a.closeCalls)).toEqual([1, 1]);
    h.actor.stop();
  });

  it('stopping the actor abandons the current attempt', async () => {
    const h = hosted([{}]);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    h.actor.stop();
    expect(h.connector.attempt(1)?.signalAborted).toBe(true);
    expect(h.connector.closeCalls(1)).toBe(1);
  });
});
