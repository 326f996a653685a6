import { afterAll, describe, expect, it, vi } from 'vitest';
import type { DashboardSnapshot } from '../../src/inspect/dashboard.js';
import { alive, killAll, startCli } from './cli.js';

afterAll(killAll);

describe('warden demo', () => {
  it('starts, serves its dashboard, and stops on SIGINT with exit code 0 and no process left', async () => {
    // Nothing listens on this port: the NATS session keeps reconnecting, which must not hold up the stop.
    const p = startCli(['demo', '--port', '0'], { env: { NATS_URL: 'nats://127.0.0.1:1' } });
    const line = await p.waitForLine((l) => l.includes('"msg":"dashboard: '), 30_000);
    const url = JSON.parse(line).url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // Logs are JSON lines when stdout is not a terminal.
    for (const l of p.stdout().trim().split('\n')) expect(() => JSON.parse(l)).not.toThrow();
    const children = async () => {
      const snap = (await (await fetch(`${url}api/snapshot`)).json()) as DashboardSnapshot;
      return snap.supervisors.flatMap((s) => s.children.map((c) => ({ id: c.id, status: c.status })));
    };
    // The three local children get ready; the NATS session, with nothing at NATS_URL, keeps
    // reconnecting and its report says where it dialled and why it failed.
    await vi.waitFor(
      async () => {
        const seen = await children();
        expect(seen.map((c) => `${c.id}:${c.status.state}`)).toEqual([
          'plc:ready',
          'tcp-ticks:ready',
          'h2-ticks:ready',
          expect.stringMatching(/^connection:(reconnecting|connecting)$/),
        ]);
        expect(seen[3]?.status.lastFailure?.summary).toMatch(
          /nats:\/\/127\.0\.0\.1:1\b.*connection refused|connection refused.*nats:\/\/127\.0\.0\.1:1\b/i,
        );
      },
      { timeout: 10_000, interval: 100 },
    );

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
