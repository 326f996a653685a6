import { describe, expect, it } from 'vitest';
import { fromCallback } from 'xstate';
import { sessionMachine } from '../../src/machines/session.js';
import {
  advance,
  createScriptedConnector,
  flush,
  type Journal,
  type Script,
  startTestSession,
  type TestSessionOptions,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Every transition of the session machine, each with the exact `state#attempt` sequence observed.
const retry = { initialIntervalMs: 100, randomizationFactor: 0 } as const;

function start(script: Script, options: TestSessionOptions = {}) {
  const journal: Journal = [];
  const connector = createScriptedConnector(script, { journal, name: 'c' });
  const session = startTestSession(connector, { retry, ...options });
  return { connector, journal, ...session };
}

checkLeaksAfterAll();

describe('connecting', () => {
  it('ATTEMPT.CONNECTED → initializing', async () => {
    const s = start([{ init: 'hang' }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1']);
    s.actor.stop();
  });

  it('ATTEMPT.FAILED retryable → reconnecting, then connecting after the delay', async () => {
    const s = start([{ connect: { fail: 'retryable' } }, { connect: 'hang' }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'reconnecting#1']);
    expect(s.actor.getSnapshot().context.nextRetryAt).toBe(100);
    await advance(s.clock, 99);
    expect(s.trace).toEqual(['connecting#1', 'reconnecting#1']);
    await advance(s.clock, 1);
    expect(s.trace).toEqual(['connecting#1', 'reconnecting#1', 'connecting#2']);
    s.actor.stop();
  });

  it('ATTEMPT.FAILED fatal → fatal', async () => {
    const s = start([{ connect: { fail: 'fatal', message: 'bad credentials' } }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'fatal#1']);
    expect(s.actor.getSnapshot().output).toMatchObject({
      status: 'fatal',
      report: { phase: 'connect', kind: 'fatal', summary: 'bad credentials' },
    });
  });

  it('ATTEMPT.FAILED stop → stopped', async () => {
    const s = start([{ connect: { fail: 'stop' } }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'stopped#1']);
    expect(s.actor.getSnapshot().output).toEqual({ status: 'stopped' });
  });

  it('RECONNECT → a new attempt at once (through reconnecting, with zero delay)', async () => {
    const s = start([{ connect: 'hang' }]);
    s.actor.send({ type: 'RECONNECT', reason: 'test' });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'connecting#2']);
    expect(s.connector.attempt(1)?.signalAborted).toBe(true);
    expect(s.actor.getSnapshot().context.reconnectReason).toBe('test');
    s.actor.stop();
  });

  it('STOP → stopping → stopped', async () => {
    const s = start([{ connect: 'hang' }]);
    s.actor.send({ type: 'STOP' });
    expect(s.trace).toEqual(['connecting#1', 'stopping#1']);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'stopping#1', 'stopped#1']);
  });

  it('an error of the attempt actor itself → fatal with a report', async () => {
    const machine = sessionMachine.provide({
      actors: {
        runAttempt: fromCallback(() => {
          throw new Error('attempt actor broke');
        }),
      },
    });
    const { createActor } = await import('xstate');
    const connector = createScriptedConnector([{}]);
    const actor = createActor(machine, { input: { connector } }).start();
    expect(actor.getSnapshot().value).toBe('fatal');
    expect(actor.getSnapshot().output).toMatchObject({
      status: 'fatal',
      report: { kind: 'fatal', summary: 'attempt actor error: attempt actor broke' },
    });
  });
});

describe('initializing', () => {
  it('ATTEMPT.INITIALIZED → ready, with the handle published', async () => {
    const s = start([{}]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1']);
    expect(s.actor.getSnapshot().context.handle).toEqual({ connector: 'c', attempt: 1 });
    s.actor.stop();
  });

  it('ATTEMPT.FAILED retryable → reconnecting', async () => {
    const s = start([{ init: { fail: 'retryable' } }, { connect: 'hang' }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'reconnecting#1']);
    await advance(s.clock, 100);
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'reconnecting#1', 'connecting#2']);
    s.actor.stop();
  });

  it('ATTEMPT.FAILED fatal → fatal', async () => {
    const s = start([{ init: { fail: 'fatal' } }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'fatal#1']);
  });

  it('ATTEMPT.FAILED stop → stopped', async () => {
    const s = start([{ init: { fail: 'stop' } }]);
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'stopped#1']);
  });

  it('RECONNECT → a new attempt at once; the first session is closed', async () => {
    const s = start([{ init: 'hang' }, { connect: 'hang' }]);
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'test' });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'connecting#2']);
    expect(s.connector.closeCalls(1)).toBe(1);
    s.actor.stop();
  });

  it('STOP → stopping → stopped', async () => {
    const s = start([{ init: 'hang' }]);
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'stopping#1', 'stopped#1']);
  });
});

describe('ready', () => {
  const ready = ['connecting#1', 'initializing#1', 'ready#1'];

  it('RUN_ENDED disconnected → reconnecting (a retryable run failure with code disconnected)', async () => {
    const s = start([{ run: { type: 'disconnected' } }, { connect: 'hang' }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'reconnecting#1']);
    expect(s.actor.getSnapshot().context.lastFailure).toMatchObject({
      phase: 'run',
      kind: 'retryable',
      code: 'disconnected',
    });
    expect(s.actor.getSnapshot().context.handle).toBeUndefined();
    s.actor.stop();
  });

  it('RUN_ENDED reconnectRequested → connecting with zero delay, not a failure', async () => {
    const s = start([{ run: { type: 'reconnectRequested', reason: 'config changed' } }, { init: 'hang' }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'connecting#2', 'initializing#2']);
    expect(s.actor.getSnapshot().context.lastFailure).toBeUndefined();
    s.actor.stop();
  });

  it('RUN_ENDED fatal → fatal with the given report', async () => {
    const s = start([{ run: { fatal: 'license expired', code: 'license' } }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'fatal#1']);
    expect(s.actor.getSnapshot().output).toMatchObject({
      status: 'fatal',
      report: { phase: 'run', kind: 'fatal', summary: 'license expired', code: 'license', attempt: 1 },
    });
  });

  it('ATTEMPT.FAILED retryable → reconnecting', async () => {
    const s = start([{ run: { fail: 'retryable' } }, { connect: 'hang' }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'reconnecting#1']);
    s.actor.stop();
  });

  it('ATTEMPT.FAILED fatal → fatal', async () => {
    const s = start([{ run: { fail: 'fatal' } }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'fatal#1']);
  });

  it('ATTEMPT.FAILED stop → stopped', async () => {
    const s = start([{ run: { fail: 'stop' } }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'stopped#1']);
  });

  it('ATTEMPT.RECONNECT (ctx.reconnect) → connecting with zero delay', async () => {
    const s = start([{ run: { requestReconnect: 'stale' } }, { init: 'hang' }]);
    await flush();
    expect(s.trace).toEqual([...ready, 'connecting#2', 'initializing#2']);
    s.actor.stop();
  });

  it('RECONNECT → connecting with zero delay', async () => {
    const s = start([{}, { init: 'hang' }]);
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'test' });
    await flush();
    expect(s.trace).toEqual([...ready, 'connecting#2', 'initializing#2']);
    s.actor.stop();
  });

  it('STOP → stopping → stopped', async () => {
    const s = start([{}]);
    await flush();
    s.actor.send({ type: 'STOP' });
    expect(s.trace).toEqual([...ready, 'stopping#1']);
    await flush();
    expect(s.trace).toEqual([...ready, 'stopping#1', 'stopped#1']);
  });
});

describe('reconnecting', () => {
  const waiting = ['connecting#1', 'reconnecting#1'];

  it('the delay elapses → connecting with attempt + 1', async () => {
    const s = start([{ connect: { fail: 'retryable' } }, { connect: 'hang' }]);
    await flush();
    await advance(s.clock, 100);
    expect(s.trace).toEqual([...waiting, 'connecting#2']);
    s.actor.stop();
  });

  it('budget exhausted → fatal (the always transition; reconnecting is never observed)', async () => {
    const s = start([{ connect: { fail: 'retryable' } }], { retry: { ...retry, maxRetries: 0 } });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'fatal#1']);
  });

  it('a zero delay → connecting at once', async () => {
    const s = start([{ connect: { fail: 'retryable' } }, { connect: 'hang' }], {
      retry: { initialIntervalMs: 0, randomizationFactor: 0 },
    });
    await flush();
    expect(s.trace).toEqual(['connecting#1', 'connecting#2']);
    s.actor.stop();
  });

  it('RECONNECT skips the rest of the wait', async () => {
    const s = start([{ connect: { fail: 'retryable' } }, { connect: 'hang' }]);
    await flush();
    s.actor.send({ type: 'RECONNECT', reason: 'now' });
    await flush();
    expect(s.trace).toEqual([...waiting, 'connecting#2']);
    // The cancelled delayed transition does not fire a second attempt later.
    await advance(s.clock, 1000);
    expect(s.trace).toEqual([...waiting, 'connecting#2']);
    s.actor.stop();
  });

  it('STOP → stopping, then stopped once the session left has closed (here: none)', async () => {
    const s = start([{ connect: { fail: 'retryable' } }]);
    await flush();
    s.actor.send({ type: 'STOP' });
    expect(s.trace).toEqual([...waiting, 'stopping#1']);
    await flush();
    expect(s.trace).toEqual([...waiting, 'stopping#1', 'stopped#1']);
  });
});

describe('stopping', () => {
  it('ATTEMPT.CLOSED → stopped', async () => {
    const s = start([{}]);
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.trace.at(-1)).toBe('stopped#1');
    expect(s.connector.closeCalls(1)).toBe(1);
  });

  it('close() never settles → stopped when shutdownMs elapses', async () => {
    const s = start([{ close: 'hang' }], { shutdownMs: 250 });
    await flush();
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.trace.at(-1)).toBe('stopping#1');
    await advance(s.clock, 249);
    expect(s.trace.at(-1)).toBe('stopping#1');
    await advance(s.clock, 1);
    expect(s.trace).toEqual(['connecting#1', 'initializing#1', 'ready#1', 'stopping#1', 'stopped#1']);
    expect(s.connector.closeCalls(1)).toBe(1);
  });

  it('STOP while stopping changes nothing', async () => {
    const s = start([{ close: 'hang' }], { shutdownMs: 250 });
    await flush();
    s.actor.send({ type: 'STOP' });
    s.actor.send({ type: 'STOP' });
    await flush();
    expect(s.trace.at(-1)).toBe('stopping#1');
    await advance(s.clock, 250);
    expect(s.actor.getSnapshot().value).toBe('stopped');
    expect(s.connector.closeCalls()).toBe(1);
  });
});
