/**
 * `warden run` with a `discovery` section: every transport server the config starts publishes its
 * endpoints there, withdraws them on stop, and the discovery closes with the system. A bad
 * `discovery` section is reported with its path and exit code 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/cli/config.js';
import { startFromConfig } from '../../src/cli/run.js';
import { NatsKvDiscovery } from '../../src/discovery/nats-kv.js';
import { createRouter } from '../../src/routing/router.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { alive, killAll, runCli, startCli } from './cli.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'warden-run-discovery-'));
const PATH = { namespace: 'plant', component: 'press', endpoint: 'count' } as const;
const TCP_ID = '00000000000000a1';
const H2_ID = '00000000000000a2';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
}, 20_000);
afterAll(async () => {
  await killAll();
  await nats?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(name: string, config: unknown): string {
  const file = join(tmp, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** A TCP and an HTTP/2 server, each serving plant/press/count under its own instance id. */
function transports(): unknown[] {
  const endpoint = (instanceId: string) => ({
    ...PATH,
    handler: join(FIXTURES, 'handlers.ts'),
    export: 'count',
    instanceId,
  });
  return [
    { type: 'tcp', options: { port: 0 }, endpoints: [endpoint(TCP_ID)] },
    { type: 'http2', options: { port: 0 }, endpoints: [endpoint(H2_ID)] },
  ];
}

describe('warden run with discovery', { timeout: 60_000 }, () => {
  it('memory: every server of the config publishes its endpoint; stop withdraws it and closes the discovery', async () => {
    const file = join(tmp, 'in-memory.json');
    const config = parseConfig(
      { transports: transports(), discovery: { type: 'memory' }, dashboard: { enabled: false } },
      file,
    );
    const system = await startFromConfig(config, file, pino({ level: 'silent' }));
    const discovery = system.discovery;
    if (!discovery) throw new Error('startFromConfig made no discovery for { type: "memory" }');
    const [tcp, h2] = system.servers as [(typeof system.servers)[0], (typeof system.servers)[0]];
    const listed = await discovery.list(PATH);
    expect(listed.sort((a, b) => a.instanceId.localeCompare(b.instanceId))).toEqual([
      { ...PATH, instanceId: TCP_ID, transport: 'tcp', address: tcp.address(), meta: {} },
      { ...PATH, instanceId: H2_ID, transport: 'http2', address: h2.address(), meta: {} },
    ]);
    // What is listed serves: a router over the same discovery reaches both instances.
    const router = createRouter({ discovery, mode: 'direct' });
    for (const instanceId of [TCP_ID, H2_ID])
      expect(await router.request({ ...PATH, instanceId }, { count: 2 })).toEqual([{ n: 1 }, { n: 2 }]);
    await router.close();

    await system.stop();
    // Closed with the system: a closed discovery refuses every call.
    await expect(discovery.list(PATH)).rejects.toMatchObject({ code: 'WARDEN_CLIENT_CLOSED' });
  });

  it('nats-kv: a `warden run` process publishes into the KV bucket, and withdraws and closes on SIGTERM', async () => {
    const bucket = 'run-config';
    const file = writeConfig('nats-kv.json', {
      transports: transports(),
      discovery: { type: 'nats-kv', servers: nats.url, bucket, heartbeatMs: 200, leaseMs: 1000 },
      dashboard: { enabled: false },
    });
    const p = startCli(['run', file]);
    await p.waitForLine((l) => l.includes('"msg":"system ready'), 30_000);
    const lines = p.jsonLines();
    const address = (type: string): string =>
      lines.find((l) => l.msg === `${type} server listening`)?.address as string;
    expect(lines.find((l) => l.discovery === 'nats-kv')).toMatchObject({ servers: nats.url, bucket });

    // Another process's view: a discovery on the same bucket lists both, and a router calls them.
    const reader = new NatsKvDiscovery({ servers: nats.url, bucket, heartbeatMs: 200, leaseMs: 1000 });
    try {
      const listed = await reader.list(PATH);
      expect(listed.sort((a, b) => a.instanceId.localeCompare(b.instanceId))).toEqual([
        { ...PATH, instanceId: TCP_ID, transport: 'tcp', address: address('tcp'), meta: {} },
        { ...PATH, instanceId: H2_ID, transport: 'http2', address: address('http2'), meta: {} },
      ]);
      const router = createRouter({ discovery: reader, mode: 'direct' });
      for (const instanceId of [TCP_ID, H2_ID])
        expect(await router.request({ ...PATH, instanceId }, { count: 1 })).toEqual({ n: 1 });
      await router.close();

      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const msgs = p.jsonLines().map((l) => l.msg);
      expect(msgs.at(-1)).toBe('stopped cleanly');
      // The discovery's NATS connection was closed: nothing kept the process alive after stopping.
      expect(msgs).not.toContainEqual(expect.stringContaining('still open'));
      expect(alive(p.child.pid as number)).toBe(false);
      // Withdrawn at once (deleted, not left to its lease).
      expect(await reader.list(PATH)).toEqual([]);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await reader.close();
    }
  });

  it('prints each problem of a bad discovery section with its path and exits 2', async () => {
    const schema = writeConfig('bad-discovery-schema.json', {
      transports: transports(),
      discovery: { type: 'nats-kv', bucket: 'b', leaseMs: -1 },
    });
    const unknown = writeConfig('bad-discovery-type.json', { discovery: { type: 'consul' } });
    const options = writeConfig('bad-discovery-options.json', {
      transports: [{ type: 'tcp', options: { port: 0, discovery: { type: 'memory' } } }],
      discovery: { type: 'nats-kv', servers: nats.url, heartbeatMs: 500, leaseMs: 400 },
    });
    const [a, b, c] = await Promise.all([
      runCli(['run', schema]),
      runCli(['run', unknown]),
      runCli(['run', options]),
    ]);

    expect(a.code).toBe(2);
    expect(a.stderr).toContain(`invalid config ${schema} (2 problems)`);
    expect(a.stderr).toMatch(/^ {2}discovery\.servers: give the NATS server URL\(s\)/m);
    expect(a.stderr).toMatch(/^ {2}discovery\.leaseMs: .*>0/m);

    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`invalid config ${unknown} (1 problem)`);
    expect(b.stderr).toMatch(/^ {2}discovery\.type: .*'memory' \| 'nats-kv'/m);

    // Checked by NatsKvDiscovery itself, and reported under `discovery`; a transport's own
    // `discovery` option would be overridden by the top-level one, so it is refused.
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`invalid config ${options} (2 problems)`);
    expect(c.stderr).toMatch(/^ {2}discovery\.leaseMs: must be longer than heartbeatMs/m);
    expect(c.stderr).toMatch(/^ {2}transports\.0\.options\.discovery: the top-level "discovery"/m);
  });
});
