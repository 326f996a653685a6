import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machineGraph, statePaths } from '../../src/inspect/graph.js';
import { machinesMarkdown, WARDEN_MACHINES } from '../../src/inspect/machines.js';
import { runCli } from './cli.js';

describe('warden machines', { timeout: 60_000 }, () => {
  it('--format mermaid prints a stateDiagram-v2 for each machine, naming every state', async () => {
    const { code, stdout, stderr } = await runCli(['machines', '--format', 'mermaid']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const blocks = [...stdout.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks).toHaveLength(3);
    WARDEN_MACHINES.forEach((m, i) => {
      const block = blocks[i] as string;
      expect(block.startsWith('stateDiagram-v2\n')).toBe(true);
      expect(stdout).toContain(`#### \`${m.name}\``);
      for (const state of statePaths(machineGraph(m.machine))) {
        expect(block, `${m.name} names '${state}'`).toMatch(new RegExp(`(^|\\s)${state}( |$)`, 'm'));
      }
      // Every line after the header is a Mermaid statement this exporter writes.
      for (const line of block.trimEnd().split('\n').slice(1)) {
        expect(line).toMatch(
          /^\s+(\[\*\] --> \S+|\S+ --> (\[\*\]|\S+ : .+)|state "[^"]+" as \S+|state \S+ \{|\}|--)$/,
        );
      }
    });
    // The README embeds exactly this text.
    expect(stdout).toBe(machinesMarkdown());
  });

  it('--format json prints machine.toJSON() of each machine; --out writes one file each', async () => {
    const json = await runCli(['machines', '--format', 'json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as Record<string, { id: string; states: Record<string, unknown> }>;
    expect(Object.keys(parsed)).toEqual(['session', 'supervisor', 'transport-server']);
    expect(parsed.session?.id).toBe('session');
    expect(Object.keys(parsed.session?.states ?? {})).toContain('reconnecting');

    const dir = mkdtempSync(join(tmpdir(), 'warden-machines-'));
    try {
      expect((await runCli(['machines', '--out', dir])).code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['session.mmd', 'supervisor.mmd', 'transport-server.mmd']);
      expect(readFileSync(join(dir, 'supervisor.mmd'), 'utf8').startsWith('stateDiagram-v2\n')).toBe(true);
      expect((await runCli(['machines', '--format', 'json', '--out', dir])).code).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'transport-server.json'), 'utf8')).id).toBe('transportServer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown format with the usage and exit code 2', async () => {
    const { code, stderr } = await runCli(['machines', '--format', 'svg']);
    expect(code).toBe(2);
    expect(stderr).toContain("--format must be mermaid or json, got 'svg'");
    expect(stderr).toContain('Usage: warden machines');
  });
});
