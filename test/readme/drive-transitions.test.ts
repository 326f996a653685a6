/**
 * The README's "Drive transitions in a test" example, run as a test. The lines between the
 * markers are the README's code block word for word, after its imports (a second test checks that), so the README
 * never shows an example that does not work.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { resolveRetryPolicy, sessionMachine } from '../../src/index.js';
import { createScriptedConnector, flush } from '../../src/testing/index.js';

describe('README: drive transitions in a test', () => {
  it('runs: a refused connect, the exact first backoff on a SimulatedClock, then ready', async () => {
    // readme:start
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([
      { connect: { fail: 'retryable', message: 'ECONNREFUSED' } }, // attempt 1
      { connect: 'resolve', init: 'resolve', run: 'hang' }, // attempt 2
    ]);
    const actor = createActor(sessionMachine, {
      clock,
      input: { connector, retry: resolveRetryPolicy({ randomizationFactor: 0 }), now: () => clock.now() },
    }).start();
    await flush();
    expect(actor.getSnapshot().value).toBe('reconnecting');
    expect(actor.getSnapshot().context.lastFailure?.summary).toBe('ECONNREFUSED');
    clock.increment(499); // one millisecond short of the first backoff delay
    await flush();
    expect(actor.getSnapshot().value).toBe('reconnecting');
    clock.increment(1); // 500 ms: the first backoff delay, exactly
    await flush();
    expect(actor.getSnapshot().value).toBe('ready');
    actor.send({ type: 'STOP' });
    await flush();
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(connector.attempts.map((a) => a.closeCalls)).toEqual([0, 1]);
    // readme:end
  });

  it('is shown in the README word for word', () => {
    const source = readFileSync(import.meta.filename, 'utf8');
    const body = source.slice(source.indexOf('// readme:start\n') + 16, source.indexOf('    // readme:end'));
    const code = body
      .split('\n')
      .map((l) => l.slice(4))
      .join('\n')
      .trim();
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(code);
  });
});
