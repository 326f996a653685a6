import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, killAll, runCli, startCli } from './cli.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'warden-run-'));
afterAll(async () => {
  await killAll();
  rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(name: string, config: unknown): string {
  const file = join(tmp, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

describe('warden run', { timeout: 60_000 }, () => {
  it('starts a valid config, reaches ready, serves its endpoints and dashboard, and stops on SIGTERM', async () => {
    const p = startCli(['run', join(FIXTURES, 'valid.json')]);
    await p.waitForLine((l) => l.includes('"msg":"system ready'));
    const lines = p.jsonLines();
    const tcp = lines.find((l) => l.msg === 'tcp server listening')?.address as string;
    expect(tcp).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const transitions = lines
      .filter((l) => typeof l.child === 'string')
      .map((l) => `${l.child}: ${l.from} → ${l.to}`);
    expect(transitions).toContain('press: initializing → ready');
    expect(transitions).toContain('robot: initializing → ready');
    const dashboard = (await p.waitForLine((l) => l.includes('"msg":"dashboard: '))).match(
      /http:\/\/[^"]+/,
    )?.[0];
    const snapshot = (await (await fetch(`${dashboard}api/snapshot`)).json()) as {
      title: string;
      supervisors: Array<{ children: Array<{ id: string; status: { state: string } }> }>;
    };
    expect(snapshot.title).toBe('fixture plant');
    expect(snapshot.supervisors[0]?.children.map((c) => [c.id, c.status.state])).toEqual([
      ['press', 'ready'],
      ['line', 'ready'],
    ]);
    const call = await runCli(['call', tcp, 'plant/press/count', '{"count":2}']);
    expect(call).toMatchObject({ code: 0, stdout: '{"n":1}\n{"n":2}\n' });

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.jsonLines().at(-1)?.msg).toBe('stopped cleanly');
    expect(alive(p.child.pid as number)).toBe(false);
  });

  it('prints every schema problem of a bad config with its path and exits 2', async () => {
    const file = writeConfig('three-errors.json', {
      supervisors: [{ id: 'plant', children: [{ id: 'bad id!', connector: './memory-connector.ts' }] }],
      transports: [{ type: 'udp', options: {} }],
      dashboard: { port: 70_000 },
    });
    const { code, stdout, stderr } = await runCli(['run', file]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`invalid config ${file} (3 problems)`);
    expect(stderr).toMatch(/^ {2}supervisors\.0\.children\.0\.id: must start with a letter or digit/m);
    expect(stderr).toMatch(/^ {2}transports\.0\.type: .*"tcp"/m);
    expect(stderr).toMatch(/^ {2}dashboard\.port: .*65535/m);
  });

  it('reports missing modules, missing exports and bad connector and transport options together', async () => {
    const file = writeConfig('module-errors.json', {
      supervisors: [
        {
          id: 'plant',
          children: [
            {
              id: 'press',
              connector: join(FIXTURES, 'memory-connector.ts'),
              options: { device: '', port: 'x' },
            },
            { id: 'ghost', connector: './nowhere.ts' },
          ],
        },
      ],
      transports: [
        {
          type: 'tcp',
          options: { port: 0, backlog: 5 },
          endpoints: [
            {
              namespace: 'plant',
              component: 'press',
              endpoint: 'count',
              handler: join(FIXTURES, 'handlers.ts'),
              export: 'nope',
            },
          ],
        },
      ],
    });
    const { code, stderr } = await runCli(['run', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('(5 problems)');
    expect(stderr).toMatch(/^ {2}supervisors\.0\.children\.0\.options\.device: /m);
    expect(stderr).toMatch(/^ {2}supervisors\.0\.children\.0\.options\.port: /m);
    expect(stderr).toMatch(/^ {2}supervisors\.0\.children\.1\.connector: no such module: \.\/nowhere\.ts/m);
    expect(stderr).toMatch(/^ {2}transports\.0\.options(\.backlog)?: .*backlog/m);
    expect(stderr).toMatch(
      /^ {2}transports\.0\.endpoints\.0\.handler: .* has no export 'nope' \(it exports count, default\)/m,
    );
  });

  it('refuses a file that is not JSON with exit code 2', async () => {
    const file = join(tmp, 'broken.json');
    writeFileSync(file, '{ "supervisors": [');
    const { code, stderr } = await runCli(['run', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`the config file ${file} is not valid JSON`);
  });
});
