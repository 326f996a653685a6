import { describe, expect, it } from 'vitest';
import type { FailurePhase } from '../../src/core/failure.js';
import {
  type AttemptScript,
  createScriptedConnector,
  type FailStep,
  flush,
  startTestSession,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// `fatal` and `stop` classification in each phase: fatal ends in `fatal` with the report,
// stop ends in `stopped` and is never recorded as a failure.
checkLeaksAfterAll();

function failIn(phase: FailurePhase, step: FailStep): AttemptScript {
  return phase === 'connect' ? { connect: step } : phase === 'init' ? { init: step } : { run: step };
}

const before: Record<FailurePhase, string[]> = {
  connect: ['connecting'],
  init: ['connecting', 'initializing'],
  run: ['connecting', 'initializing', 'ready'],
};

describe.each(['connect', 'init', 'run'] as const)('a failure in %s', (phase) => {
  it('classified fatal → fatal with a report of that phase', async () => {
    const connector = createScriptedConnector([
      failIn(phase, { fail: 'fatal', message: `${phase} is broken`, code: 'E_BROKEN' }),
    ]);
    const s = startTestSession(connector);
    await flush();
    expect(s.states).toEqual([...before[phase], 'fatal']);
    expect(s.actor.getSnapshot().output).toEqual({
      status: 'fatal',
      report: { phase, kind: 'fatal', summary: `${phase} is broken`, code: 'E_BROKEN', attempt: 1, at: 0 },
    });
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(phase === 'connect' ? 0 : 1);
  });

  it('classified stop → stopped, never a failure', async () => {
    const connector = createScriptedConnector([failIn(phase, { fail: 'stop', message: 'shutting down' })]);
    const s = startTestSession(connector);
    await flush();
    expect(s.states).toEqual([...before[phase], 'stopped']);
    const snap = s.actor.getSnapshot();
    expect(snap.output).toEqual({ status: 'stopped' });
    expect(snap.context.lastFailure).toBeUndefined();
    expect(connector.attempt(1)?.signalAborted).toBe(true);
    expect(connector.closeCalls(1)).toBe(phase === 'connect' ? 0 : 1);
  });

  it('classified retryable → reconnecting with a retryable report', async () => {
    const connector = createScriptedConnector([failIn(phase, { fail: 'retryable', message: 'flaky' })]);
    const s = startTestSession(connector, { retry: { initialIntervalMs: 100, randomizationFactor: 0 } });
    await flush();
    expect(s.states).toEqual([...before[phase], 'reconnecting']);
    expect(s.actor.getSnapshot().context.lastFailure).toEqual({
      phase,
      kind: 'retryable',
      summary: 'flaky',
      attempt: 1,
      at: 0,
    });
    s.actor.stop();
  });
});

describe('classification edge cases', () => {
  it('a classifyError that throws makes a fatal report instead of crashing', async () => {
    const connector = {
      ...createScriptedConnector([{ connect: { fail: 'retryable', message: 'x' } }]),
      classifyError: () => {
        throw new Error('classifier broke');
      },
    };
    const s = startTestSession(connector);
    await flush();
    expect(s.states).toEqual(['connecting', 'fatal']);
    expect(s.actor.getSnapshot().output?.report?.summary).toContain('classifier broke');
  });

  it('a classifyError that returns an unknown kind makes a fatal report', async () => {
    const base = createScriptedConnector([{ connect: { fail: 'retryable', message: 'x' } }]);
    const connector = { ...base, classifyError: () => 'maybe' as unknown as 'fatal' };
    const s = startTestSession(connector);
    await flush();
    expect(s.actor.getSnapshot().output?.report?.summary).toBe('classifyError returned maybe for: x');
  });

  it('errorSummary and errorCode of the connector shape the report', async () => {
    const base = createScriptedConnector([{ connect: { fail: 'fatal', message: 'raw' } }]);
    const connector = {
      ...base,
      errorSummary: (err: unknown) => `summarised: ${(err as Error).message}`,
      errorCode: () => 'E_CUSTOM',
    };
    const s = startTestSession(connector);
    await flush();
    expect(s.actor.getSnapshot().output?.report).toMatchObject({
      summary: 'summarised: raw',
      code: 'E_CUSTOM',
    });
  });
});
