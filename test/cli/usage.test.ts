import { describe, expect, it } from 'vitest';
import { runCli } from './cli.js';

describe('warden usage', { timeout: 60_000 }, () => {
  it('prints the usage and exits 2 for an unknown command or none', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("warden: unknown command 'frobnicate'");
    expect(unknown.stderr).toContain('Usage: warden <command> [options]');
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: warden <command> [options]');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('machines [--format mermaid|json] [--out DIR]');
  });

  it.each(['demo', 'run', 'call', 'machines'])('%s --help prints its usage and exits 0', async (command) => {
    const { code, stdout, stderr } = await runCli([command, '--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: warden ${command}`);
  });

  it('refuses an unknown option with exit code 2', async () => {
    const { code, stderr } = await runCli(['demo', '--colour']);
    expect(code).toBe(2);
    expect(stderr).toContain("Unknown option '--colour'");
  });
});
