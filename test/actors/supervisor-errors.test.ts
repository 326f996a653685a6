import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { ChildSpec, SupervisorOptions } from '../../src/actors/supervisor.js';
import { type ErrorCode, isWardenError, type WardenError } from '../../src/core/errors.js';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Errors of the supervisor API: stable codes, messages that name what is wrong.
checkLeaksAfterAll();

function thrown(fn: () => unknown, code: ErrorCode): WardenError {
  try {
    fn();
  } catch (err) {
    expect(isWardenError(err, code)).toBe(true);
    return err as WardenError;
  }
  throw new Error(`expected a ${code}`);
}

async function rejected(promise: Promise<unknown>, code: ErrorCode): Promise<WardenError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isWardenError(err, code)).toBe(true);
  return err as WardenError;
}

const connector = () => createScriptedConnector([{}]);

describe('child ids', () => {
  it('a duplicate id in the initial children is WARDEN_CHILD_EXISTS', () => {
    const err = thrown(
      () =>
        createTestSupervisor({
          id: 'root',
          children: [
            { id: 'db', connector: connector() },
            { id: 'db', connector: connector() },
          ],
        }),
      'WARDEN_CHILD_EXISTS',
    );
    expect(err.message).toContain("'db'");
    expect(err.message).toContain("'root'");
  });

  it('add() of an existing id is WARDEN_CHILD_EXISTS, and the first child is untouched', async () => {
    const first = connector();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'db', connector: first }],
    }).start();
    await flush();
    thrown(() => sup.add({ id: 'db', connector: connector() }), 'WARDEN_CHILD_EXISTS');
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 1 });
    expect(first.attempt(1)?.signalAborted).toBe(false);
    await sup.stop();
  });

  it('an unknown id is WARDEN_CHILD_NOT_FOUND for remove, restart, reconnect and waitFor', async () => {
    const sup = createTestSupervisor({ id: 'root', clock: new SimulatedClock() }).start();
    for (const call of [
      () => sup.remove('ghost'),
      () => sup.restart('ghost'),
      () => sup.waitFor('ghost', 'ready', { timeoutMs: 10 }),
    ]) {
      // Thrown synchronously or as a rejection: either way the code and the id are there.
      const err = await rejected(
        (async () => call())().then((p) => p),
        'WARDEN_CHILD_NOT_FOUND',
      );
      expect(err.message).toContain("'ghost'");
    }
    thrown(() => sup.reconnect('ghost', 'why'), 'WARDEN_CHILD_NOT_FOUND');
    expect(sup.status('ghost')).toBeUndefined();
    expect(sup.handle('ghost')).toBeUndefined();
    await sup.stop();
  });

  it('add() to a stopped supervisor is WARDEN_SUPERVISOR_NOT_RUNNING', async () => {
    const sup = createTestSupervisor({ id: 'root', clock: new SimulatedClock() }).start();
    await sup.stop();
    const err = thrown(
      () => sup.add({ id: 'late', connector: connector() }),
      'WARDEN_SUPERVISOR_NOT_RUNNING',
    );
    expect(err.message).toContain('stopped');
  });
});

describe('waitFor timeout', () => {
  it('rejects with WARDEN_TIMEOUT naming the child, the awaited state and the current state', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [
        {
          id: 'plc',
          connector: createScriptedConnector([{ connect: { fail: 'retryable', message: 'ECONNREFUSED' } }]),
        },
      ],
    }).start();
    await flush();
    const err = await rejected(sup.waitFor('plc', 'ready', { timeoutMs: 20 }), 'WARDEN_TIMEOUT');
    expect(err.message).toContain("'plc'");
    expect(err.message).toContain("'ready'");
    expect(err.message).toContain("'reconnecting'");
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.details).toEqual({ child: 'plc', awaited: 'ready', state: 'reconnecting' });
    await sup.stop();
  });

  it('resolves with the status once the state is reached', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'plc', connector: connector() }],
    }).start();
    const status = await sup.waitFor('plc', 'ready', { timeoutMs: 1000 });
    expect(status).toMatchObject({ state: 'ready', attempt: 1 });
    await sup.stop();
  });
});

describe('invalid specs and options', () => {
  it.each<[string, unknown]>([
    ['id', { id: '', connector: connector() }],
    ['id', { id: 'has space', connector: connector() }],
    ['connector', { id: 'x', connector: { connect: 'nope' } }],
    ['connector', { id: 'x' }],
    ['restart', { id: 'x', connector: connector(), restart: 'sometimes' }],
    ['shutdownMs', { id: 'x', connector: connector(), shutdownMs: -1 }],
    ['colour', { id: 'x', connector: connector(), colour: 'red' }],
    ['supervisor.strategy', { id: 'x', supervisor: { strategy: 'all-for-one' } }],
    ['supervisor.intensity.maxRestarts', { id: 'x', supervisor: { intensity: { maxRestarts: -1 } } }],
  ])('a child spec with a bad %s is WARDEN_INVALID_OPTIONS naming the field', (field, spec) => {
    const sup = createTestSupervisor({ id: 'root' });
    const err = thrown(() => sup.add(spec as ChildSpec), 'WARDEN_INVALID_OPTIONS');
    expect(err.message).toContain(field);
    expect(sup.getSnapshot().children).toEqual([]);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'shutdownMs',
      { id: 'db', connector: connector(), shutdownMs: -1 },
      /^Invalid child spec 'db': shutdownMs: .*>=\s?0\b/,
    ],
    [
      'restart',
      { id: 'db', connector: connector(), restart: 'sometimes' },
      /^Invalid child spec 'db': restart: .*"permanent"\|"transient"\|"temporary"/,
    ],
    [
      'id',
      { id: 'has space', connector: connector() },
      /^Invalid child spec 'has space': id: must start with a letter/,
    ],
    [
      'connector',
      { id: 'db', connector: { connect: 'nope' } },
      /^Invalid child spec 'db': connector: must be a connector/,
    ],
    [
      'retry',
      { id: 'db', connector: connector(), retry: { randomizationFactor: 3 } },
      /^Invalid child spec 'db': retry: Invalid retry policy: randomizationFactor: .*<=\s?1\b/,
    ],
    [
      'supervisor.strategy',
      { id: 'grp', supervisor: { strategy: 'all-for-one' } },
      /^Invalid child spec 'grp': supervisor\.strategy: /,
    ],
  ])('a child spec error (%s) names the child, the field and the rule', (_field, spec, message) => {
    const sup = createTestSupervisor({ id: 'root' });
    expect(thrown(() => sup.add(spec as ChildSpec), 'WARDEN_INVALID_OPTIONS').message).toMatch(message);
  });

  it.each<[string, unknown]>([
    ['maxRetries', { maxRetries: -2 }],
    ['randomizationFactor', { randomizationFactor: 3 }],
    ['maxIntervalMs', { initialIntervalMs: 100, maxIntervalMs: 1 }],
  ])(
    "a child's retry with a bad %s is WARDEN_INVALID_OPTIONS naming the child and the field",
    (field, retry) => {
      const err = thrown(
        () =>
          createTestSupervisor({
            id: 'root',
            children: [{ id: 'db', connector: connector(), retry } as ChildSpec],
          }),
        'WARDEN_INVALID_OPTIONS',
      );
      expect(err.message).toContain("'db'");
      expect(err.message).toContain('retry');
      expect(err.message).toContain(field);
    },
  );

  it.each<[string, unknown]>([
    ['id', { id: '/root' }],
    ['strategy', { id: 'root', strategy: 'one-for-some' }],
    ['intensity.periodMs', { id: 'root', intensity: { periodMs: 0 } }],
    ['random', { id: 'root', random: 0.5 }],
  ])('supervisor options with a bad %s are WARDEN_INVALID_OPTIONS naming the field', (field, options) => {
    const err = thrown(() => createTestSupervisor(options as SupervisorOptions), 'WARDEN_INVALID_OPTIONS');
    expect(err.message).toContain(field);
  });
});
