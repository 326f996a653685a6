import type { AnyStateMachine } from 'xstate';
import { type GraphState, type GraphTransition, type MachineGraph, machineGraph } from './graph.js';

/** Options of {@link toMermaid}. */
export interface MermaidOptions {
  /** Also draw transitions that only run actions (as self-loops). Default false: state changes only. */
  readonly targetless?: boolean;
  /**
   * Draw one arrow per pair of states, its label listing every transition between them (default
   * true: easier to read); false draws one arrow per transition.
   */
  readonly merge?: boolean;
  /** Indentation of the body (default two spaces). */
  readonly indent?: string;
}

const SIMPLE_ID = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Node id of the "from any state" pseudo-state that carries the root's own transitions. */
const ANY = 'any_state';

/**
 * Writes a machine definition as a Mermaid `stateDiagram-v2`: nested states as composite states
 * (parallel regions separated by `--`), `[*] -->` for initial states, `--> [*]` for final ones, and
 * each transition labelled with its event, guard (`[name]`) or delay (`after retryDelay`).
 * Transitions declared on the machine's root start from a `(any state)` node. Deterministic: the
 * same definition always gives the same text, so generated copies can be checked for staleness.
 *
 * @example
 * ```ts
 * import { sessionMachine } from 'warden';
 * console.log(toMermaid(sessionMachine));
 * // stateDiagram-v2
 * //   [*] --> connecting
 * //   connecting --> initializing : ATTEMPT.CONNECTED
 * //   ...
 * ```
 */
export function toMermaid(machine: AnyStateMachine | MachineGraph, options: MermaidOptions = {}): string {
  const graph = 'root' in machine ? machineGraph(machine) : machine;
  const indent = options.indent ?? '  ';
  const ids = assignIds(graph);
  const lines: string[] = ['stateDiagram-v2'];
  const parentOf = new Map<string, string>();
  const index = (states: readonly GraphState[], parent: string): void => {
    for (const s of states) {
      parentOf.set(s.path, parent);
      index(s.children, s.path);
    }
  };
  index(graph.states, '');

  const drawn = graph.transitions.filter((t) => t.targets.length > 0 || options.targetless === true);
  // A transition goes inside the innermost composite holding both ends; the rest go at the top.
  const scopeOf = (t: GraphTransition): string => {
    if (t.source === '') return '';
    const ends = [t.source, ...(t.targets.length > 0 ? t.targets : [t.source])];
    const parents = ends.map((p) => parentOf.get(p) ?? '');
    return parents.every((p) => p === parents[0]) ? (parents[0] as string) : '';
  };
  const byScope = new Map<string, GraphTransition[]>();
  for (const t of drawn) {
    const scope = scopeOf(t);
    const list = byScope.get(scope) ?? [];
    list.push(t);
    byScope.set(scope, list);
  }

  const writeScope = (
    states: readonly GraphState[],
    initial: string | undefined,
    scope: string,
    depth: number,
  ): void => {
    const pad = indent.repeat(depth);
    const idOf = (path: string): string => ids.get(path) as string;
    for (const s of states) {
      const id = idOf(s.path);
      const label = s.type === 'history' ? 'H' : s.key;
      if (id !== label) lines.push(`${pad}state "${text(label)}" as ${id}`);
    }
    if (initial !== undefined)
      lines.push(`${pad}[*] --> ${idOf(scope === '' ? initial : `${scope}.${initial}`)}`);
    for (const s of states) {
      const id = idOf(s.path);
      if (s.children.length === 0) continue;
      lines.push(`${pad}state ${id} {`);
      if (s.type === 'parallel') {
        s.children.forEach((region, i) => {
          if (i > 0) lines.push(`${pad}${indent}--`);
          const regionId = idOf(region.path);
          lines.push(`${pad}${indent}state ${regionId} {`);
          writeScope(region.children, region.initial, region.path, depth + 2);
          lines.push(`${pad}${indent}}`);
        });
      } else {
        writeScope(s.children, s.initial, s.path, depth + 1);
      }
      lines.push(`${pad}}`);
    }
    const arrows = new Map<string, GraphTransition[]>();
    for (const t of byScope.get(scope) ?? []) {
      const from = t.source === '' ? ANY : idOf(t.source);
      const targets = t.targets.length > 0 ? t.targets : [t.source];
      for (const target of targets) {
        const key = `${from} --> ${idOf(target)}`;
        if (options.merge === false) {
          lines.push(`${pad}${key} : ${text(t.label)}`);
          continue;
        }
        const list = arrows.get(key) ?? [];
        list.push(t);
        arrows.set(key, list);
      }
    }
    for (const [key, list] of arrows) lines.push(`${pad}${key} : ${text(mergedLabel(list))}`);
    for (const s of states) if (s.type === 'final') lines.push(`${pad}${idOf(s.path)} --> [*]`);
  };

  if ((byScope.get('') ?? []).some((t) => t.source === '')) {
    lines.push(`${indent}state "(any state)" as ${ANY}`);
  }
  writeScope(graph.states, graph.initial, '', 1);
  return `${lines.join('\n')}\n`;
}

/**
 * The label of an arrow that stands for several transitions. An event that also leads there
 * unguarded is named once, without its guarded alternatives (they lead to the same state).
 */
function mergedLabel(list: readonly GraphTransition[]): string {
  const unguarded = new Set(list.filter((t) => t.guard === undefined).map((t) => t.event));
  const labels: string[] = [];
  for (const t of list) {
    if (t.guard !== undefined && unguarded.has(t.event) && t.trigger === 'event') continue;
    if (!labels.includes(t.label)) labels.push(t.label);
  }
  return labels.join(', ');
}

/** Mermaid ids: the state's key where it is unique and plain, else its path made plain. */
function assignIds(graph: MachineGraph): Map<string, string> {
  const all: GraphState[] = [];
  const visit = (states: readonly GraphState[]): void => {
    for (const s of states) {
      all.push(s);
      visit(s.children);
    }
  };
  visit(graph.states);
  const count = new Map<string, number>();
  for (const s of all) count.set(s.key, (count.get(s.key) ?? 0) + 1);
  const used = new Set<string>([ANY]);
  const ids = new Map<string, string>();
  for (const s of all) {
    let id =
      count.get(s.key) === 1 && SIMPLE_ID.test(s.key) && s.key !== ANY
        ? s.key
        : s.path.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([^A-Za-z])/, 's_$1');
    while (used.has(id)) id = `${id}_`;
    used.add(id);
    ids.set(s.path, id);
  }
  return ids;
}

/** Text safe inside a Mermaid label: no line breaks, quotes, `;` or `#` (Mermaid's entity marker). */
function text(value: string): string {
  return value
    .replace(/[\r\n]+/g, ' ')
    .replace(/"/g, "'")
    .replace(/;/g, ',')
    .replace(/#/g, '♯');
}
