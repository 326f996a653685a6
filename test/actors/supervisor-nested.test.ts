import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { RestartType } from '../../src/actors/supervisor.js';
import { createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Nested supervisors: an inner supervisor that fails is a fatal child of the outer one.
checkLeaksAfterAll();

const escalatingInner = (restart: RestartType) => ({
  id: 'inner',
  restart,
  supervisor: {
    intensity: { maxRestarts: 1, periodMs: 60_000 },
    children: [
      {
        id: 'bad',
        restart: 'permanent' as const,
        connector: createScriptedConnector([{ connect: { fail: 'fatal', message: 'bad credentials' } }]),
      },
    ],
  },
});

describe('escalation', () => {
  it('an inner supervisor that exceeds its intensity is a fatal child of the outer one', async () => {
    const clock = new SimulatedClock();
    const sibling = createScriptedConnector([{}, {}]);
    const outer = createTestSupervisor({
      id: 'outer',
      clock,
      strategy: 'one-for-all',
      intensity: { maxRestarts: 10, periodMs: 60_000 },
      children: [{ id: 'sibling', connector: sibling }, escalatingInner('temporary')],
    });
    const failed: Array<{ child: string; supervisor?: true; summary: string }> = [];
    const down: string[] = [];
    outer.on('failed', (e) =>
      failed.push({
        child: e.child,
        summary: e.report.summary,
        ...(e.supervisor ? { supervisor: true } : {}),
      }),
    );
    outer.on('down', (e) => down.push(e.child));
    outer.start();
    await flush();

    const inner = outer.status('inner');
    expect(inner?.state).toBe('fatal');
    expect(inner?.lastFailure).toMatchObject({
      kind: 'fatal',
      code: 'intensity_exceeded',
      summary: "supervisor 'inner' exceeded its restart intensity (more than 1 restarts in 60000 ms)",
    });
    // The nested child's failures bubble up with its path; the inner failure is reported once.
    expect(failed).toEqual([
      { child: 'inner/bad', summary: 'bad credentials' },
      { child: 'inner/bad', summary: 'bad credentials' },
      {
        child: 'inner',
        summary: "supervisor 'inner' exceeded its restart intensity (more than 1 restarts in 60000 ms)",
        supervisor: true,
      },
    ]);
    expect(down).toContain('inner');
    // one-for-all: the inner supervisor going down restarted the sibling.
    expect(outer.status('sibling')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    // The outer supervisor keeps running; a temporary child is not respawned.
    expect(outer.getSnapshot().state).toBe('running');
    expect(outer.getSnapshot().children.find((c) => c.id === 'inner')?.supervisor?.state).toBe('failed');
    await outer.stop();
  });

  it('a transient inner supervisor is respawned, and that counts against the outer intensity', async () => {
    const clock = new SimulatedClock();
    const outer = createTestSupervisor({
      id: 'outer',
      clock,
      intensity: { maxRestarts: 2, periodMs: 60_000 },
      children: [escalatingInner('transient')],
    });
    const innerFailures: string[] = [];
    outer.on('failed', (e) => {
      if (e.supervisor) innerFailures.push(e.child);
    });
    outer.start();
    const output = await outer.ended();
    // Inner failed three times (respawned twice); the third respawn exceeded the outer intensity.
    expect(innerFailures).toEqual(['inner', 'inner', 'inner', 'outer']);
    expect(output).toMatchObject({ status: 'failed', report: { code: 'intensity_exceeded' } });
    expect(output.report?.summary).toContain("supervisor 'outer'");
  });

  it('nested sessions are stopped when the outer supervisor stops, innermost in reverse order', async () => {
    const clock = new SimulatedClock();
    const order: string[] = [];
    const outer = createTestSupervisor({
      id: 'outer',
      clock,
      children: [
        { id: 'a', connector: createScriptedConnector([{}]) },
        {
          id: 'group',
          supervisor: {
            children: [
              { id: 'b', connector: createScriptedConnector([{}]) },
              { id: 'c', connector: createScriptedConnector([{}]) },
            ],
          },
        },
        { id: 'd', connector: createScriptedConnector([{}]) },
      ],
    });
    outer.on('transition', (e) => {
      if (e.to === 'stopped') order.push(e.child);
    });
    outer.start();
    await flush();
    expect(outer.getSnapshot().children.map((c) => c.status.state)).toEqual(['ready', 'ready', 'ready']);
    await outer.stop();
    expect(order).toEqual(['d', 'group/c', 'group/b', 'group', 'a']);
  });
});
