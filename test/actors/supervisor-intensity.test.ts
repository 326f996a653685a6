import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  advance,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  type Journal,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Restart intensity: more than maxRestarts interventions within periodMs fails the supervisor,
// which stops its children in reverse start order.
checkLeaksAfterAll();

describe('intensity exceeded', () => {
  it('fails the supervisor with a report, stopping children in reverse start order', async () => {
    const clock = new SimulatedClock();
    const journal: Journal = [];
    const steady = (name: string) => createScriptedConnector([{}], { name, journal });
    // 'crashy' reaches a session and fails fatally in init, every time.
    const crashy = createScriptedConnector([{ init: { fail: 'fatal', message: 'crash' } }], {
      name: 'crashy',
      journal,
    });
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      intensity: { maxRestarts: 2, periodMs: 5000 },
      children: [
        { id: 'first', connector: steady('first') },
        { id: 'crashy', connector: crashy, restart: 'permanent' },
        { id: 'middle', connector: steady('middle') },
        { id: 'last', connector: steady('last') },
      ],
    });
    const stoppedOrder: string[] = [];
    const failed: unknown[] = [];
    sup.on('transition', (e) => {
      if (e.to === 'stopped') stoppedOrder.push(e.child);
    });
    sup.on('failed', (e) => failed.push(e));
    sup.start();
    const output = await sup.ended();
    await flush();

    expect(output.status).toBe('failed');
    expect(output.report).toMatchObject({
      kind: 'fatal',
      code: 'intensity_exceeded',
      summary: "supervisor 'root' exceeded its restart intensity (more than 2 restarts in 5000 ms)",
    });
    expect(sup.getSnapshot()).toMatchObject({ state: 'failed', report: output.report });
    // The third respawn of crashy is one too many: the supervisor gives up instead of spawning it.
    expect(crashy.totals.connects).toBe(3);
    expect(sup.actor.getSnapshot().context.interventions).toHaveLength(3);
    expect(stoppedOrder).toEqual(['last', 'middle', 'first']);
    const closes = journal.filter((e) => e.event === 'close').map((e) => e.connector);
    expect(closes.filter((c) => c !== 'crashy')).toEqual(['last', 'middle', 'first']);
    for (const id of ['first', 'middle', 'last']) expect(sup.status(id)?.state).toBe('stopped');
    // crashy's last incarnation ended fatal and was not respawned: it keeps fatal and its report.
    expect(sup.status('crashy')).toMatchObject({ state: 'fatal', lastFailure: { summary: 'crash' } });
    expect(failed.at(-1)).toEqual({ child: 'root', report: output.report, supervisor: true });
    // Every session made was closed.
    expect(crashy.totals.closes).toBe(crashy.totals.sessions);
  });

  it('maxRestarts: 0 fails at the first intervention', async () => {
    const clock = new SimulatedClock();
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      intensity: { maxRestarts: 0 },
      children: [{ id: 'a', connector: createScriptedConnector([{ connect: { fail: 'fatal' } }, {}]) }],
    }).start();
    expect((await sup.ended()).status).toBe('failed');
  });

  it('one-for-all sibling restarts count as interventions too', async () => {
    const clock = new SimulatedClock();
    const flapper = createScriptedConnector([{ run: 'manual' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      strategy: 'one-for-all',
      intensity: { maxRestarts: 1, periodMs: 5000 },
      children: [
        { id: 'flapper', connector: flapper, retry: { initialIntervalMs: 10, randomizationFactor: 0 } },
        { id: 'other', connector: createScriptedConnector([{}]) },
      ],
    }).start();
    await flush();
    flapper.endRun(1, { type: 'disconnected' });
    await flush();
    expect(sup.getSnapshot().state).toBe('running');
    await advance(clock, 10);
    flapper.endRun(2, { type: 'disconnected' });
    await flush();
    expect(sup.getSnapshot().state).toBe('failed');
  });
});

describe('the intensity period', () => {
  it('interventions older than periodMs no longer count', async () => {
    const clock = new SimulatedClock();
    const child = createScriptedConnector([{ run: 'manual' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      intensity: { maxRestarts: 1, periodMs: 5000 },
      children: [{ id: 'a', connector: child, restart: 'permanent' }],
    }).start();
    await flush();
    for (let attempt = 1; attempt <= 5; attempt++) {
      child.endRun(attempt, { fail: 'fatal', message: `crash ${attempt}` });
      await flush();
      expect(sup.getSnapshot().state).toBe('running');
      expect(sup.status('a')).toMatchObject({ state: 'ready', attempt: attempt + 1, restarts: attempt });
      await advance(clock, 5000);
    }
    await sup.stop();
  });

  it('two interventions within periodMs exceed maxRestarts: 1', async () => {
    const clock = new SimulatedClock();
    const child = createScriptedConnector([{ run: 'manual' }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      intensity: { maxRestarts: 1, periodMs: 5000 },
      children: [{ id: 'a', connector: child, restart: 'permanent' }],
    }).start();
    await flush();
    child.endRun(1, { fail: 'fatal' });
    await flush();
    await advance(clock, 4999);
    child.endRun(2, { fail: 'fatal' });
    await flush();
    expect(sup.getSnapshot().state).toBe('failed');
  });

  it("a session's own reconnects are not interventions", async () => {
    const clock = new SimulatedClock();
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      intensity: { maxRestarts: 0 },
      children: [{ id: 'a', connector, retry: { initialIntervalMs: 10, randomizationFactor: 0 } }],
    }).start();
    await flush();
    for (let i = 0; i < 5; i++) await advance(clock, 10_000);
    expect(connector.totals.connects).toBe(6);
    expect(sup.getSnapshot().state).toBe('running');
    await sup.stop();
  });
});
