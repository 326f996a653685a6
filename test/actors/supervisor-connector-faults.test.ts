import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { Connector } from '../../src/core/connector.js';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// A misbehaving connector becomes a failure report on its child, never a crash of the supervisor.
checkLeaksAfterAll();

async function runWith(faulty: Connector<unknown>) {
  const clock = new SimulatedClock();
  const healthy = createScriptedConnector([{}]);
  const sup = createTestSupervisor({
    id: 'root',
    clock,
    children: [
      { id: 'faulty', connector: faulty, restart: 'temporary' },
      { id: 'healthy', connector: healthy },
    ],
  });
  const failed: string[] = [];
  sup.on('failed', (e) => failed.push(`${e.child}: ${e.report.summary}`));
  sup.start();
  await flush();
  expect(sup.getSnapshot().state).toBe('running');
  expect(sup.status('healthy')).toMatchObject({ state: 'ready', attempt: 1 });
  return { sup, failed };
}

describe('connector faults', () => {
  it('connect() that throws synchronously is classified like any connect error', async () => {
    const { sup, failed } = await runWith(
      createScriptedConnector([{ connect: { fail: 'fatal', message: 'sync boom', sync: true } }]),
    );
    expect(sup.status('faulty')).toMatchObject({
      state: 'fatal',
      lastFailure: { phase: 'connect', kind: 'fatal', summary: 'sync boom' },
    });
    expect(failed).toEqual(['faulty: sync boom']);
    await sup.stop();
  });

  it('a synchronous throw classified retryable is retried', async () => {
    const clock = new SimulatedClock();
    const faulty = createScriptedConnector([{ connect: { fail: 'retryable', sync: true } }, {}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'faulty', connector: faulty, retry: { initialIntervalMs: 0 } }],
    }).start();
    await flush();
    expect(sup.status('faulty')).toMatchObject({ state: 'ready', attempt: 2 });
    await sup.stop();
  });

  it('connect() that resolves to a non-session is a fatal WARDEN_INVALID_SESSION report', async () => {
    const { sup, failed } = await runWith(createScriptedConnector([{ connect: 'notASession' }]));
    expect(sup.status('faulty')).toMatchObject({
      state: 'fatal',
      lastFailure: { phase: 'connect', kind: 'fatal', code: 'WARDEN_INVALID_SESSION' },
    });
    expect(failed[0]).toContain('not a session');
    await sup.stop();
  });

  it('a non-session is fatal even when classifyError would retry', async () => {
    const base = createScriptedConnector([{ connect: 'notASession' }]);
    const { sup } = await runWith({ ...base, classifyError: () => 'retryable' });
    expect(sup.status('faulty')?.state).toBe('fatal');
    await sup.stop();
  });

  it('connect() that resolves to null is a failure report too', async () => {
    const faulty: Connector<unknown> = {
      connect: async () => null as never,
      classifyError: () => 'retryable',
    };
    const { sup } = await runWith(faulty);
    expect(sup.status('faulty')?.lastFailure?.code).toBe('WARDEN_INVALID_SESSION');
    await sup.stop();
  });

  it('a classifyError that throws becomes a fatal report naming both errors', async () => {
    const base = createScriptedConnector([{ init: { fail: 'retryable', message: 'handshake failed' } }]);
    const { sup } = await runWith({
      ...base,
      classifyError: () => {
        throw new TypeError('classifier bug');
      },
    });
    const failure = sup.status('faulty')?.lastFailure;
    expect(failure).toMatchObject({ phase: 'init', kind: 'fatal' });
    expect(failure?.summary).toContain('classifier bug');
    expect(failure?.summary).toContain('handshake failed');
    await sup.stop();
  });

  it('an errorSummary that throws becomes a fatal report', async () => {
    const base = createScriptedConnector([{ run: { fail: 'retryable', message: 'lost' } }]);
    const { sup } = await runWith({
      ...base,
      errorSummary: () => {
        throw new Error('summary bug');
      },
    });
    expect(sup.status('faulty')).toMatchObject({
      state: 'fatal',
      lastFailure: { phase: 'run', kind: 'fatal' },
    });
    await sup.stop();
  });

  it('a thrown non-Error value still gives a readable summary', async () => {
    const faulty: Connector<unknown> = {
      connect: () => Promise.reject({ errno: 111 }),
      classifyError: () => 'fatal',
    };
    const { sup } = await runWith(faulty);
    expect(sup.status('faulty')?.lastFailure?.summary).toBe('{"errno":111}');
    await sup.stop();
  });
});
