import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { SupervisorEventMap } from '../../src/actors/supervisor.js';
import { advance, createScriptedConnector, createTestSupervisor, flush } from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Listeners: the events and their payloads; a listener that throws breaks nothing.
checkLeaksAfterAll();

const retry = { initialIntervalMs: 100, randomizationFactor: 0, maxRetries: 1 };

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; event?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('events', () => {
  it('transition, ready, down and failed carry the child, states, attempt and report', async () => {
    const clock = new SimulatedClock();
    const db = createScriptedConnector([
      { run: { type: 'disconnected' } },
      { connect: { fail: 'retryable' } },
    ]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector: db, retry, restart: 'temporary' }],
    });
    const seen: Array<[keyof SupervisorEventMap, unknown]> = [];
    for (const name of ['transition', 'ready', 'down', 'failed'] as const) {
      sup.on(name, (payload) => seen.push([name, payload]));
    }
    sup.start();
    await flush();
    await advance(clock, 100);
    const disconnected = { phase: 'run', kind: 'retryable', code: 'disconnected', attempt: 1, at: 0 };
    const exhausted = { phase: 'connect', kind: 'fatal', exhausted: true, attempt: 2, at: 100 };
    expect(seen).toMatchObject([
      ['transition', { child: 'db', from: 'connecting', to: 'initializing', attempt: 1 }],
      ['transition', { child: 'db', from: 'initializing', to: 'ready', attempt: 1 }],
      ['ready', { child: 'db', attempt: 1 }],
      ['transition', { child: 'db', from: 'ready', to: 'reconnecting', attempt: 1, failure: disconnected }],
      ['down', { child: 'db', from: 'ready', to: 'reconnecting', failure: disconnected }],
      ['transition', { child: 'db', from: 'reconnecting', to: 'connecting', attempt: 2 }],
      ['transition', { child: 'db', from: 'connecting', to: 'fatal', attempt: 2, failure: exhausted }],
      ['down', { child: 'db', from: 'connecting', to: 'fatal', failure: exhausted }],
      ['failed', { child: 'db', report: exhausted }],
    ]);
    expect(seen).toHaveLength(9);
    // A transition without a new failure has no failure field.
    expect(seen[0]?.[1]).not.toHaveProperty('failure');
    await sup.stop();
  });

  it('on() returns a function that stops listening', async () => {
    const clock = new SimulatedClock();
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      children: [{ id: 'db', connector: createScriptedConnector([{ init: 'hang' }]) }],
    });
    const seen: string[] = [];
    const off = sup.on('transition', (e) => seen.push(e.to));
    sup.start();
    off();
    await flush();
    expect(seen).toEqual([]);
    expect(sup.status('db')?.state).toBe('initializing');
    await sup.stop();
  });
});

describe('a listener that throws', () => {
  it('does not stop other listeners, later events, or the supervisor; it is logged', async () => {
    const clock = new SimulatedClock();
    const { logger, lines } = capturingLogger();
    const db = createScriptedConnector([{ run: { type: 'disconnected' } }, {}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      logger,
      strategy: 'one-for-all',
      children: [
        { id: 'db', connector: db, retry },
        { id: 'cache', connector: createScriptedConnector([{}]) },
      ],
    });
    const seen: string[] = [];
    for (const name of ['transition', 'ready', 'down'] as const) {
      sup.on(name, () => {
        throw new Error(`listener of ${name} broke`);
      });
    }
    sup.on('transition', (e) => seen.push(`${e.child}:${e.to}`));
    sup.on('down', (e) => seen.push(`down:${e.child}`));
    sup.start();
    await flush();
    await advance(clock, 100);
    expect(sup.getSnapshot().state).toBe('running');
    expect(sup.status('db')).toMatchObject({ state: 'ready', attempt: 2 });
    // The strategy still ran although the down listener threw first.
    expect(sup.status('cache')).toMatchObject({ state: 'ready', attempt: 2, restarts: 1 });
    expect(seen).toContain('down:db');
    expect(seen.filter((e) => e === 'db:ready')).toHaveLength(2);
    const logged = lines.filter((l) => l.msg === 'a supervisor listener threw; other listeners still ran');
    expect(logged.length).toBeGreaterThanOrEqual(3);
    expect(new Set(logged.map((l) => l.event))).toEqual(new Set(['transition', 'ready', 'down']));
    expect((await sup.stop()).status).toBe('stopped');
  });

  it('of a nested supervisor event does not break the nested supervisor', async () => {
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [
        { id: 'group', supervisor: { children: [{ id: 'x', connector: createScriptedConnector([{}]) }] } },
      ],
    });
    const seen: string[] = [];
    sup.on('ready', () => {
      throw new Error('boom');
    });
    sup.on('ready', (e) => seen.push(e.child));
    sup.start();
    await flush();
    expect(seen.sort()).toEqual(['group', 'group/x']);
    expect(sup.getSnapshot().children[0]?.supervisor?.children[0]?.status.state).toBe('ready');
    await sup.stop();
  });
});
