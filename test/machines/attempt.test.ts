import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { assign, createActor, sendTo, setup } from 'xstate';
import type { Connector } from '../../src/core/connector.js';
import {
  type AttemptCommand,
  type AttemptEvent,
  attemptLogic,
  type Defer,
} from '../../src/machines/attempt.js';
import { createScriptedConnector, flush, type Script } from '../../src/testing/index.js';

// The attempt actor on its own: one per session, driving each attempt it is told to START.

/** A parent that hosts the attempt actor, passes it commands and records what it sends back. */
const host = setup({
  types: {
    context: {} as {
      connector: Connector<unknown>;
      defer: Defer | undefined;
      received: Array<AttemptEvent['type']>;
    },
    events: {} as AttemptEvent | { type: 'COMMAND'; command: AttemptCommand },
    input: {} as { connector: Connector<unknown>; defer?: Defer },
  },
  actors: { attempts: attemptLogic },
}).createMachine({
  context: ({ input }) => ({ connector: input.connector, defer: input.defer, received: [] }),
  invoke: {
    src: 'attempts',
    id: 'attempts',
    input: ({ context }) => ({
      connector: context.connector,
      now: () => 0,
      makeLog: () => pino({ level: 'silent' }),
      defer: context.defer,
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

function hosted(script: Script, defer?: Defer) {
  const connector = createScriptedConnector(script);
  const actor = createActor(host, { input: { connector, ...(defer ? { defer } : {}) } }).start();
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

/** A `defer` the test drains by hand: what a supervisor's scheduler does in its slices. */
function manualDefer() {
  const queue: Array<() => void> = [];
  const defer: Defer = (fn, a, b) => {
    queue.push(() => fn(a, b));
  };
  return {
    defer,
    get pending() {
      return queue.length;
    },
    drain() {
      for (const task of queue.splice(0)) task();
    },
  };
}

describe('attemptLogic with a defer', () => {
  it('each completion waits for the defer; the next phase starts only when it has run', async () => {
    const d = manualDefer();
    const h = hosted([{}], d.defer);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    // connect resolved: its completion waits; init has not been called.
    expect(d.pending).toBe(1);
    expect(h.received()).toEqual([]);
    expect(h.connector.attempt(1)?.phases).toEqual(['connect']);
    d.drain();
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED']);
    expect(h.connector.attempt(1)?.phases).toEqual(['connect', 'init']);
    await flush();
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED']);
    d.drain();
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED', 'ATTEMPT.INITIALIZED']);
    expect(h.connector.attempt(1)?.phases).toEqual(['connect', 'init', 'run']);
    h.actor.stop();
  });

  it('a completion still waiting when the attempt is abandoned is dropped; the session is closed once', async () => {
    const d = manualDefer();
    const h = hosted([{}, { connect: 'hang' }], d.defer);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    expect(d.pending).toBe(1);
    // The session is recorded as soon as connect resolves, so abandoning closes it.
    h.send({ type: 'START', attempt: 2 });
    expect(h.connector.attempt(1)?.signalAborted).toBe(true);
    expect(h.connector.closeCalls(1)).toBe(1);
    d.drain();
    await flush();
    expect(h.received()).toEqual([]);
    expect(h.connector.attempt(1)?.phases).toEqual(['connect']);
    expect(h.connector.closeCalls(1)).toBe(1);
    h.actor.stop();
  });

  it('a failure is classified and sent when the defer runs it', async () => {
    const d = manualDefer();
    const h = hosted([{ init: { fail: 'fatal' } }], d.defer);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    d.drain();
    await flush();
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED']);
    d.drain();
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED', 'ATTEMPT.FAILED']);
    h.actor.stop();
  });

  it('tryRequestReconnect is refused until the machine has heard that the attempt is ready', async () => {
    const d = manualDefer();
    const h = hosted([{}], d.defer);
    h.send({ type: 'START', attempt: 1 });
    await flush();
    d.drain();
    await flush();
    // init resolved, but ATTEMPT.INITIALIZED still waits: the machine is not in ready yet.
    const ctx = h.connector.attempt(1)?.context;
    expect(ctx?.reconnect.tryRequestReconnect('too early')).toBe(false);
    d.drain();
    expect(ctx?.reconnect.tryRequestReconnect('now')).toBe(true);
    expect(h.received()).toEqual(['ATTEMPT.CONNECTED', 'ATTEMPT.INITIALIZED', 'ATTEMPT.RECONNECT']);
    h.actor.stop();
  });
});

describe('the session context', () => {
  it('has own enumerable fields that survive a spread, and functions that work destructured', async () => {
    const h = hosted([{}]);
    h.send({ type: 'START', attempt: 4 });
    await flush();
    const ctx = h.connector.attempt(4)?.context;
    expect(ctx).toBeDefined();
    if (!ctx) return;
    expect(Object.keys(ctx).sort()).toEqual(['attempt', 'fatal', 'log', 'reconnect', 'signal']);
    const copy = { ...ctx };
    expect(copy.attempt).toBe(4);
    expect(copy.signal).toBe(ctx.signal);
    expect(typeof copy.log.info).toBe('function');
    const { fatal } = copy;
    expect(fatal('run', 'gone', 'E_GONE')).toEqual({
      phase: 'run',
      kind: 'fatal',
      summary: 'gone',
      code: 'E_GONE',
      attempt: 4,
      at: 0,
    });
    // A context a connector derives from the one it got still works.
    const derived = Object.create(ctx) as typeof ctx;
    expect(derived.log).toBe(ctx.log);
    expect(derived.attempt).toBe(4);
    const { tryRequestReconnect } = copy.reconnect;
    expect(tryRequestReconnect('destructured')).toBe(true);
    expect(ctx.reconnect).toBe(copy.reconnect);
    h.actor.stop();
    expect(ctx.signal.aborted).toBe(true);
    expect((ctx.signal.reason as Error).name).toBe('AbortError');
  });
});
