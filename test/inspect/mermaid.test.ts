import { describe, expect, it } from 'vitest';
import { and, createMachine, not, setup } from 'xstate';
import { machineGraph, statePaths } from '../../src/inspect/graph.js';
import { WARDEN_MACHINES } from '../../src/inspect/machines.js';
import { toMermaid } from '../../src/inspect/mermaid.js';
import { sessionMachine } from '../../src/machines/session.js';
import { transportServerMachine } from '../../src/machines/transport-server.js';

/** The Mermaid state ids a diagram declares or uses, without [*]. */
function mermaidIds(text: string): Set<string> {
  const ids = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    const arrow = /^\s*(\S+) --> (\S+)/.exec(line);
    if (arrow) for (const id of [arrow[1], arrow[2]]) if (id !== '[*]') ids.add(id as string);
    const alias = /^\s*state "([^"]*)" as (\S+)/.exec(line);
    if (alias) ids.add(alias[2] as string);
    const composite = /^\s*state (\S+) \{$/.exec(line);
    if (composite) ids.add(composite[1] as string);
  }
  return ids;
}

describe('toMermaid', () => {
  it('writes the session machine: initial, every transition labelled, finals, the root transition', () => {
    const text = toMermaid(sessionMachine);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('  [*] --> connecting');
    expect(lines).toContain('  connecting --> initializing : ATTEMPT.CONNECTED');
    // Several transitions between one pair of states share one arrow; guards are named.
    expect(lines).toContain('  reconnecting --> connecting : RECONNECT, after retryDelay, always [noDelay]');
    expect(lines).toContain('  reconnecting --> fatal : always [exhausted]');
    expect(lines).toContain('  stopping --> stopped : ATTEMPT.CLOSED, after shutdown');
    // A guarded alternative of an event that also leads there unguarded is not repeated.
    expect(lines.find((l) => l.startsWith('  ready --> reconnecting'))).toBe(
      '  ready --> reconnecting : ATTEMPT.RUN_ENDED, ATTEMPT.FAILED [isRetryable], ATTEMPT.RECONNECT, RECONNECT',
    );
    expect(lines).toContain('  fatal --> [*]');
    expect(lines).toContain('  stopped --> [*]');
    // The machine-wide transition starts from a pseudo-state.
    expect(lines).toContain('  state "(any state)" as any_state');
    expect(lines).toContain('  any_state --> fatal : xstate.error.actor.*');
    expect(mermaidIds(text)).toEqual(new Set([...statePaths(machineGraph(sessionMachine)), 'any_state']));
  });

  it('names invoked actors in done/error labels and can draw one arrow per transition', () => {
    const merged = toMermaid(transportServerMachine);
    expect(merged).toContain('  starting --> listening : listen done\n');
    expect(merged).toContain('  starting --> failed : listen error\n');
    expect(merged).toContain('  draining --> stopped : drain done, drain error\n');
    const separate = toMermaid(transportServerMachine, { merge: false });
    expect(separate).toContain('  draining --> stopped : drain done\n');
    expect(separate).toContain('  draining --> stopped : drain error\n');
    expect(separate).toContain('  listening --> draining : always [stopRequested]\n');
  });

  it('draws nested, parallel and final states, delays, named and combined guards', () => {
    const machine = setup({ guards: { ok: () => true, fresh: () => true } }).createMachine({
      id: 'nest',
      initial: 'a',
      states: {
        a: { on: { GO: { target: 'b', guard: 'ok' } }, after: { 500: 'c' } },
        b: {
          initial: 'x',
          states: {
            x: { on: { N: { target: 'y', guard: and(['ok', not('fresh')]) } } },
            y: { type: 'final' },
          },
          onDone: 'c',
        },
        c: {
          type: 'parallel',
          states: {
            r1: { initial: 'p', states: { p: {} } },
            r2: { initial: 'p', states: { p: { on: { BACK: '#nest.a' } } } },
          },
        },
      },
    });
    const text = toMermaid(machine);
    expect(text).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> a',
        '  state b {',
        '    [*] --> x',
        '    x --> y : N [and(ok, not(fresh))]',
        '    y --> [*]',
        '  }',
        '  state c {',
        '    state r1 {',
        '      state "p" as c_r1_p',
        '      [*] --> c_r1_p',
        '    }',
        '    --',
        '    state r2 {',
        '      state "p" as c_r2_p',
        '      [*] --> c_r2_p',
        '    }',
        '  }',
        '  a --> b : GO [ok]',
        '  a --> c : after 500 ms',
        '  b --> c : done',
        '  c_r2_p --> a : BACK',
        '',
      ].join('\n'),
    );
  });

  it('keeps labels on one line and free of characters Mermaid reads as syntax', () => {
    const machine = createMachine({
      id: 'odd',
      initial: 'one',
      states: { one: { on: { 'A;B#C': 'two' } }, two: {} },
    });
    expect(toMermaid(machine)).toContain('  one --> two : A,B♯C\n');
  });

  it('is deterministic and names every state of each warden machine', () => {
    for (const { machine } of WARDEN_MACHINES) {
      const text = toMermaid(machine);
      expect(toMermaid(machine)).toBe(text);
      expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
      for (const path of statePaths(machineGraph(machine))) expect(mermaidIds(text)).toContain(path);
    }
  });
});

describe('machineGraph', () => {
  it('reduces a definition to states and labelled transitions, as plain JSON', () => {
    const graph = machineGraph(sessionMachine);
    expect(graph.id).toBe('session');
    expect(graph.initial).toBe('connecting');
    expect(graph.states.map((s) => [s.key, s.type])).toEqual([
      ['connecting', 'atomic'],
      ['initializing', 'atomic'],
      ['ready', 'atomic'],
      ['reconnecting', 'atomic'],
      ['stopping', 'atomic'],
      ['fatal', 'final'],
      ['stopped', 'final'],
    ]);
    expect(graph.transitions).toContainEqual({
      source: 'reconnecting',
      targets: ['connecting'],
      event: 'xstate.after.retryDelay.session.reconnecting',
      trigger: 'after',
      delay: 'retryDelay',
      label: 'after retryDelay',
    });
    expect(graph.transitions).toContainEqual({
      source: '',
      targets: ['fatal'],
      event: 'xstate.error.actor.*',
      trigger: 'event',
      label: 'xstate.error.actor.*',
    });
    expect(JSON.parse(JSON.stringify(graph))).toEqual(graph);
  });
});
