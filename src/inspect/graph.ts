import type { AnyStateMachine } from 'xstate';

/** The kind of a state node, as XState names it. */
export type GraphStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state of a {@link MachineGraph}, with its nested states. */
export interface GraphState {
  /** Dotted path from the root, e.g. `ready` or `running.polling`: the key the dashboard highlights. */
  readonly path: string;
  readonly key: string;
  readonly type: GraphStateType;
  /** Key of the initial child of a compound state. */
  readonly initial?: string;
  readonly children: readonly GraphState[];
}

/** What triggers a {@link GraphTransition}. */
export type GraphTrigger = 'event' | 'always' | 'after' | 'done' | 'error';

/** One transition of a {@link MachineGraph}. */
export interface GraphTransition {
  /** Path of the state that declares it; `''` for the machine's root ("from any state"). */
  readonly source: string;
  /** Paths of the target states; empty for a transition that only runs actions. */
  readonly targets: readonly string[];
  readonly trigger: GraphTrigger;
  /** The event type as XState knows it (`''` for `always`). */
  readonly event: string;
  /** A short readable label: `STOP`, `after retryDelay`, `listen done`, `always [exhausted]`. */
  readonly label: string;
  /** The guard's name (`guard` for an anonymous function). */
  readonly guard?: string;
  /** The delay of an `after` transition: a number of ms or the name of a delay. */
  readonly delay?: number | string;
}

/**
 * A machine definition reduced to what a diagram needs, as plain JSON: its states (nested) and its
 * transitions, in definition order. The dashboard draws machines from it; {@link toMermaid} writes it
 * as Mermaid. Unlike `machine.toJSON()`, it names guards and delays and maps invoke done/error
 * events back to the invoked actor.
 */
export interface MachineGraph {
  readonly id: string;
  /** Key of the root's initial state. */
  readonly initial?: string;
  readonly states: readonly GraphState[];
  readonly transitions: readonly GraphTransition[];
}

// The part of XState's StateNode this module reads (its generic types add nothing here).
interface NodeLike {
  readonly key: string;
  readonly path: readonly string[];
  readonly type: GraphStateType;
  readonly states: Readonly<Record<string, NodeLike>>;
  readonly initial?: { readonly target: readonly NodeLike[] };
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[];
  readonly after: readonly (TransitionLike & { readonly delay: unknown })[];
  readonly invoke: readonly { readonly id: string; readonly src: unknown }[];
}

interface TransitionLike {
  readonly eventType: string;
  readonly target: readonly NodeLike[] | undefined;
  readonly guard?: unknown;
}

const AFTER = 'xstate.after.';
const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const DONE_STATE = 'xstate.done.state.';

/** Reduces a machine definition to a {@link MachineGraph}. Pure: nothing is started. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as NodeLike;
  const transitions: GraphTransition[] = [];
  const walk = (node: NodeLike): GraphState[] =>
    Object.values(node.states).map((child) => {
      collect(child, transitions);
      const initial = child.type === 'compound' ? child.initial?.target[0]?.key : undefined;
      return {
        path: child.path.join('.'),
        key: child.key,
        type: child.type,
        ...(initial !== undefined ? { initial } : {}),
        children: walk(child),
      };
    });
  collect(root, transitions);
  const states = walk(root);
  const initial = root.initial?.target[0]?.key;
  return { id: machine.id, ...(initial !== undefined ? { initial } : {}), states, transitions };
}

function collect(node: NodeLike, into: GraphTransition[]): void {
  const source = node.path.join('.');
  for (const [event, list] of node.transitions) {
    for (const t of list) into.push(describe(node, source, event, t));
  }
  for (const t of node.always ?? []) into.push(describe(node, source, '', t));
}

function describe(node: NodeLike, source: string, event: string, t: TransitionLike): GraphTransition {
  const targets = (t.target ?? []).map((n) => n.path.join('.'));
  const guard = t.guard === undefined ? undefined : guardName(t.guard);
  const suffix = guard === undefined ? '' : ` [${guard}]`;
  const base = { source, targets, event, ...(guard !== undefined ? { guard } : {}) };
  if (event === '') return { ...base, trigger: 'always', label: `always${suffix}` };
  if (event.startsWith(AFTER)) {
    const delayed = node.after.find((a) => a.eventType === event);
    const delay =
      typeof delayed?.delay === 'number' || typeof delayed?.delay === 'string' ? delayed.delay : '?';
    const text = typeof delay === 'number' ? `${delay} ms` : delay;
    return { ...base, trigger: 'after', delay, label: `after ${text}${suffix}` };
  }
  const invoked = (prefix: string): string | undefined => {
    if (!event.startsWith(prefix)) return undefined;
    const id = event.slice(prefix.length);
    const inv = node.invoke.find((i) => i.id === id);
    return inv && typeof inv.src === 'string' ? inv.src : undefined;
  };
  const done = invoked(DONE_ACTOR);
  if (done !== undefined) return { ...base, trigger: 'done', label: `${done} done${suffix}` };
  const error = invoked(ERROR_ACTOR);
  if (error !== undefined) return { ...base, trigger: 'error', label: `${error} error${suffix}` };
  if (event.startsWith(DONE_STATE)) return { ...base, trigger: 'done', label: `done${suffix}` };
  return { ...base, trigger: 'event', label: `${event}${suffix}` };
}

/** A guard's readable name: its type for named guards, `and(a, b)` / `not(a)` for combinators. */
function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  if (typeof guard === 'function') {
    const g = guard as { name: string; guards?: unknown; stateValue?: unknown };
    // XState's and/or/not are functions named so, carrying the guards they combine.
    if (Array.isArray(g.guards)) return `${g.name || 'guard'}(${g.guards.map(guardName).join(', ')})`;
    if (g.stateValue !== undefined) return `stateIn(${JSON.stringify(g.stateValue)})`;
    return 'guard';
  }
  return 'guard';
}

/** Every state path of a graph, depth first in definition order. */
export function statePaths(graph: MachineGraph): string[] {
  const out: string[] = [];
  const visit = (states: readonly GraphState[]): void => {
    for (const s of states) {
      out.push(s.path);
      visit(s.children);
    }
  };
  visit(graph.states);
  return out;
}
