import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsKvDiscovery } from '../../src/discovery/nats-kv.js';
import { encodeStored } from '../../src/discovery/nats-kv-view.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { discoveryContract, freshNamespace, record, WatchReader } from './contract.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLOSE_AND_EXIT = join(import.meta.dirname, 'fixtures', 'close-and-exit.ts');

let nats: NatsServerHandle;
let raw: NatsConnection;
const opened: NatsKvDiscovery[] = [];

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  raw = await connect({ servers: nats.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await raw?.close();
  await nats?.stop();
});

function discovery(over: Partial<ConstructorParameters<typeof NatsKvDiscovery>[0]> = {}): NatsKvDiscovery {
  const d = new NatsKvDiscovery({ servers: nats.url, bucket: 'test-instances', ...over });
  opened.push(d);
  return d;
}

discoveryContract('NatsKvDiscovery', async () => discovery());

describe('NatsKvDiscovery', () => {
  it('validates its options, naming the field', () => {
    expect(() => new NatsKvDiscovery({ servers: nats.url, heartbeatMs: 500, leaseMs: 400 })).toThrow(
      /leaseMs/,
    );
    expect(() => new NatsKvDiscovery({})).toThrow(/servers/);
    expect(() => new NatsKvDiscovery({ servers: nats.url, bucket: 'a.b' })).toThrow(/bucket/);
    expect(() => new NatsKvDiscovery({ servers: nats.url, leaseMs: 3000, maxAgeMs: 4000 })).toThrow(
      /maxAgeMs/,
    );
    expect(() => new NatsKvDiscovery({ servers: nats.url, lease: 1 } as never)).toThrow(/lease/);
  });

  it('reports an unreachable NATS as WARDEN_CONNECTION_FAILED', async () => {
    const d = new NatsKvDiscovery({ servers: 'nats://127.0.0.1:1', connectOptions: { timeout: 500 } });
    await expect(d.register(record(freshNamespace()))).rejects.toMatchObject({
      code: 'WARDEN_CONNECTION_FAILED',
    });
    await expect(d.list({ namespace: 'any' })).rejects.toMatchObject({ code: 'WARDEN_CONNECTION_FAILED' });
    await d.close();
  });

  it('stores each record under namespace.component.endpoint.instanceId with its heartbeat and lease', async () => {
    const d = discovery({ leaseMs: 2000, heartbeatMs: 500 });
    const ns = freshNamespace();
    const r = record(ns, { meta: { zone: 'z1' } });
    const before = Date.now();
    await d.register(r);
    const kv = await new Kvm(raw).open('test-instances');
    const entry = await kv.get(`${ns}.math.add.${r.instanceId}`);
    const value = entry?.json<Record<string, unknown>>();
    expect(value).toMatchObject({ ...r, leaseMs: 2000 });
    expect(value?.heartbeatAt).toBeGreaterThanOrEqual(before);
    await d.unregister(r.instanceId);
    expect((await kv.get(`${ns}.math.add.${r.instanceId}`))?.operation).toBe('DEL');
  });

  it('keeps a record alive past its lease while heartbeats go on', async () => {
    const owner = discovery({ heartbeatMs: 100, leaseMs: 500 });
    const reader = discovery({ leaseMs: 500, heartbeatMs: 100 });
    const ns = freshNamespace();
    const r = record(ns);
    await owner.register(r);
    const w = new WatchReader(reader.watch({ namespace: ns }));
    expect(await w.untilSynced()).toEqual([`+${r.instanceId}`]);
    await w.quiet(1500); // three leases: no `removed`
    expect(await reader.list({ namespace: ns })).toEqual([r]);
    await owner.unregister(r.instanceId);
    expect(await w.next(3000, 'removed after unregister')).toEqual({ type: 'removed', instance: r });
    await w.close();
  });

  it('drops a record whose heartbeats stopped once its lease runs out', async () => {
    const reader = discovery({ heartbeatMs: 50, leaseMs: 300 });
    const ns = freshNamespace();
    const r = record(ns);
    // A writer that died right after this heartbeat: nobody refreshes it.
    const kv = await new Kvm(raw).create('test-instances');
    const wroteAt = Date.now();
    await kv.put(`${ns}.math.add.${r.instanceId}`, encodeStored(r, wroteAt, 300));
    const w = new WatchReader(reader.watch({ namespace: ns }));
    expect(await w.untilSynced()).toEqual([`+${r.instanceId}`]);
    // Bounded: the lease (300 ms) plus a sweep, with room for a slow machine.
    expect(await w.next(2000, "'removed' once the 300 ms lease ran out")).toEqual({
      type: 'removed',
      instance: r,
    });
    // Not before the lease ran out, though.
    expect(Date.now() - wroteAt).toBeGreaterThanOrEqual(300);
    expect(await reader.list({ namespace: ns })).toEqual([]);
    // The key itself is still there: liveness never depends on the server expiring it.
    expect((await kv.get(`${ns}.math.add.${r.instanceId}`))?.operation).toBe('PUT');
    await w.close();
  });

  it('ignores values under its keys that are not valid records', async () => {
    const reader = discovery();
    const ns = freshNamespace();
    const kv = await new Kvm(raw).create('test-instances');
    const r = record(ns);
    await kv.put(`${ns}.math.add.${r.instanceId}`, 'not json');
    await kv.put(`${ns}.math.add.0000000000000001`, encodeStored(r, Date.now(), 3000)); // key and record disagree
    expect(await reader.list({ namespace: ns })).toEqual([]);
  });

  it('close() deletes what it registered, and leaves nothing that keeps a process alive', async () => {
    // In a process of its own, so that nothing else (other discoveries, this file's raw
    // connection) shares what is counted: after close() the process must exit by itself.
    const ns = freshNamespace();
    const child = spawn(process.execPath, ['--import', 'tsx', CLOSE_AND_EXIT, nats.url, ns], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const code = await Promise.race([exited, delay(20_000).then(() => 'still running' as const)]);
      expect(code, `the process did not exit after close(); still active: ${stderr}`).toBe(0);
      const report = JSON.parse(stdout) as { closed: boolean; live: string[]; key: string };
      expect(report.live, 'timers of the discovery still live after close()').toEqual([]);
      // The record was written, then deleted by close() (not left to run out its lease).
      const kv = await new Kvm(raw).open('test-instances');
      expect((await kv.get(report.key))?.operation).toBe('DEL');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});
