import { describe, expect, it } from 'vitest';
import type { DashboardSnapshot } from '../../src/inspect/dashboard.js';
import { alive, startCli } from './cli.js';

describe('warden demo', () => {
  it('starts, serves its dashboard, and stops on SIGINT with exit code 0 and no process left', async () => {
    // Nothing listens on this port: the NATS session keeps reconnecting, which must not hold up the stop.
    const p = startCli(['demo', '--port', '0'], { env: { NATS_URL: 'nats://127.0.0.1:1' } });
    const line = await p.waitForLine((l) => l.includes('"msg":"dashboard: '), 30_000);
    const url = JSON.parse(line).url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // Logs are JSON lines when stdout is not a terminal.
    for (const l of p.stdout().trim().split('\n')) expect(() => JSON.parse(l)).not.toThrow();
    const ready = async (): Promise<string[]> => {
      const snap = (await (await fetch(`${url}api/snapshot`)).json()) as DashboardSnapshot;
      return snap.supervisors.flatMap((s) => s.children.map((c) => `${c.id}:${c.status.state}`));
    };
    let states: string[] = [];
    for (let i = 0; i < 50; i++) {
      states = await ready();
      if (states.filter((s) => s.endsWith(':ready')).length === 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(states).toEqual([
      'plc:ready',
      'tcp-ticks:ready',
      'h2-ticks:ready',
      expect.stringMatching(/^connection:/),
    ]);

    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    const msgs = p.jsonLines().map((l) => l.msg);
    expect(msgs).toContain('SIGINT: stopping');
    expect(msgs.at(-1)).toBe('stopped cleanly');
    expect(msgs).not.toContain(expect.stringContaining('still open'));
    expect(alive(p.child.pid as number)).toBe(false);
    await expect(fetch(url)).rejects.toThrow();
  }, 60_000);
});
