import type { AnyStateMachine } from 'xstate';
import { sessionMachine } from '../machines/session.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { transportServerMachine } from '../machines/transport-server.js';
import { type MachineGraph, machineGraph } from './graph.js';
import { toMermaid } from './mermaid.js';

/** One of warden's own machines, as `warden machines` and the dashboard show it. */
export interface WardenMachine {
  /** File-friendly name: `session`, `supervisor`, `transport-server`. */
  readonly name: 'session' | 'supervisor' | 'transport-server';
  /** Where it is defined, relative to the package root. */
  readonly source: string;
  /** One line on what it is the lifecycle of. */
  readonly summary: string;
  readonly machine: AnyStateMachine;
}

/** warden's three machine definitions, in the order the README shows them. */
export const WARDEN_MACHINES: readonly WardenMachine[] = [
  {
    name: 'session',
    source: 'src/machines/session.ts',
    summary: 'the lifecycle of one connector session under a supervisor',
    machine: sessionMachine,
  },
  {
    name: 'supervisor',
    source: 'src/machines/supervisor.ts',
    summary: 'a supervisor: starts children, applies its strategy, gives up past its restart intensity',
    machine: supervisorMachine,
  },
  {
    name: 'transport-server',
    source: 'src/machines/transport-server.ts',
    summary: 'the lifecycle of every transport server (TCP, HTTP/2, NATS)',
    machine: transportServerMachine,
  },
];

/** The graphs of warden's machines by name, for the dashboard. */
export function wardenMachineGraphs(): Record<WardenMachine['name'], MachineGraph> {
  const out = {} as Record<WardenMachine['name'], MachineGraph>;
  for (const m of WARDEN_MACHINES) out[m.name] = machineGraph(m.machine);
  return out;
}

/**
 * The Markdown that `warden machines --format mermaid` prints and the README embeds between
 * `<!-- machines:start -->` and `<!-- machines:end -->`: for each machine a heading, a line on what
 * it is, and its diagram in a ```` ```mermaid ```` block.
 */
export function machinesMarkdown(machines: readonly WardenMachine[] = WARDEN_MACHINES): string {
  return machines
    .map(
      (m) =>
        `#### \`${m.name}\` — ${m.summary}\n\nDefined in [\`${m.source}\`](${m.source}).\n\n\`\`\`mermaid\n${toMermaid(m.machine)}\`\`\`\n`,
    )
    .join('\n');
}

/** The JSON that `warden machines --format json` prints: `machine.toJSON()` of each, by name. */
export function machinesJson(machines: readonly WardenMachine[] = WARDEN_MACHINES): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of machines) out[m.name] = m.machine.toJSON();
  return out;
}
