/**
 * Discovery and routing across processes, with a real nats-server (JetStream): two worker
 * processes serve the same endpoint, one over TCP and one over NATS, registered in
 * NatsKvDiscovery; a router in this process spreads calls over both. It survives a nats-server
 * restart without its instance list going empty, and a worker's `kill -9` without losing a call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWardenError } from '../../src/core/errors.js';
import { NatsKvDiscovery } from '../../src/discovery/nats-kv.js';
import { createRouter, type RouteAttempt, type Router } from '../../src/routing/router.js';
import { WatchReader } from '../discovery/contract.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { startWorker, type WorkerHandle } from './fixtures/workers.js';

const PATH = { namespace: 'it', component: 'work', endpoint: 'echo' } as const;
const LEASE_MS = 1500;
const HEARTBEAT_MS = 250;

let nats: NatsServerHandle;
let tcpWorker: WorkerHandle;
let natsWorker: WorkerHandle;
let discovery: NatsKvDiscovery;
let router: Router;
const attempts: Array<RouteAttempt & { at: number }> = [];

interface Tally {
  ok: Record<string, number>;
  failed: Record<string, number>;
  total: number;
}

/**
 * `callers` loops calling the router until `stop()`; every call is awaited (with a deadline), so
 * each outcome is counted: `ok` by worker name, `failed` by error code.
 */
function steadyCalls(callers: number): { stop(): Promise<Tally>; tally: Tally } {
  const tally: Tally = { ok: {}, failed: {}, total: 0 };
  let running = true;
  const loop = async (id: number) => {
    for (let i = 0; running; i++) {
      tally.total++;
      try {
        const r = (await router.request(PATH, { id, i }, { timeoutMs: 3000 })) as { worker: string };
        tally.ok[r.worker] = (tally.ok[r.worker] ?? 0) + 1;
      } catch (err) {
        const code = isWardenError(err) ? err.code : String(err);
        tally.failed[code] = (tally.failed[code] ?? 0) + 1;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const loops = Array.from({ length: callers }, (_, id) => loop(id));
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  const common = { nats: nats.url, leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS };
  [tcpWorker, natsWorker] = await Promise.all([
    startWorker({ ...common, transport: 'tcp', name: 'tcp-worker' }),
    startWorker({ ...common, transport: 'nats', name: 'nats-worker' }),
  ]);
  discovery = new NatsKvDiscovery({
    servers: nats.url,
    leaseMs: LEASE_MS,
    heartbeatMs: HEARTBEAT_MS,
    connectOptions: { reconnectTimeWait: 100 },
  });
  router = createRouter({
    discovery,
    mode: 'round-robin',
    cooldownMs: 300,
    onAttempt: (a) => attempts.push({ ...a, at: Date.now() }),
  });
}, 40_000);

afterAll(async () => {
  await router?.close();
  await discovery?.close();
  await Promise.all([tcpWorker?.kill(), natsWorker?.kill()]);
  await nats?.stop();
});

describe('discovery and routing across processes', () => {
  it('the router finds both workers and spreads calls over TCP and NATS', async () => {
    const seen = await router.instances(PATH);
    expect(seen.map((r) => r.transport).sort()).toEqual(['nats', 'tcp']);
    expect(seen.find((r) => r.transport === 'tcp')).toMatchObject({
      instanceId: tcpWorker.instanceId,
      address: tcpWorker.address,
      meta: { worker: 'tcp-worker' },
    });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const r = (await router.request(PATH, i, { timeoutMs: 5000 })) as { worker: string; body: number };
      expect(r.body).toBe(i);
      counts[r.worker] = (counts[r.worker] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'tcp-worker': 20, 'nats-worker': 20 });
  });

  it('keeps both instances through a nats-server restart, and watchers resync', async () => {
    const watcher = new WatchReader(discovery.watch(PATH));
    expect((await watcher.untilSynced()).length).toBe(2);
    let sampling = true;
    let samples = 0;
    let fewest = Number.POSITIVE_INFINITY;
    const sampler = (async () => {
      while (sampling) {
        const n = (await router.instances(PATH)).length;
        samples++;
        fewest = Math.min(fewest, n);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const calls = steadyCalls(4);

    await new Promise((r) => setTimeout(r, 300));
    await nats.restart();
    // The watcher resyncs with nothing to report: both workers are still alive.
    expect(await watcher.untilSynced(10_000)).toEqual([]);
    // Both workers serve again (the NATS one once its session reconnected).
    const until = Date.now() + 10_000;
    for (;;) {
      const r = (await router.request(PATH, 'probe', { timeoutMs: 2000 })) as { worker: string };
      if (r.worker === 'nats-worker') {
        const r2 = (await router.request(PATH, 'probe', { timeoutMs: 2000 })) as { worker: string };
        if (r2.worker === 'tcp-worker') break;
      }
      if (Date.now() > until)
        throw new Error('the NATS worker did not serve again within 10 s of the restart');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, LEASE_MS + 300)); // past the hold after the resync
    const tally = await calls.stop();
    if (process.env.WARDEN_TEST_VERBOSE) console.log('restart', tally, { samples, fewest });
    sampling = false;
    await sampler;
    await watcher.quiet(200); // no `removed` at any point
    await watcher.close();

    expect(samples).toBeGreaterThan(50);
    expect(fewest).toBe(2);
    expect(tally.failed).toEqual({});
    expect(sum(tally.ok)).toBe(tally.total);
    expect(tally.ok['tcp-worker']).toBeGreaterThan(0);
    expect(tally.ok['nats-worker']).toBeGreaterThan(0);
  }, 30_000);

  it('after kill -9 of a worker, no call is lost and the router stops choosing it once its lease ran out', async () => {
    // Both are up (a slow machine may still be catching up after the restart above).
    const upBy = Date.now() + 5000;
    while ((await router.instances(PATH)).length < 2 && Date.now() < upBy)
      await new Promise((r) => setTimeout(r, 20));
    expect((await router.instances(PATH)).length).toBe(2);
    const calls = steadyCalls(4);
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await tcpWorker.kill();
    const diedAt = Date.now(); // the process has exited: nothing started from now on can reach it

    // Its record goes when its lease runs out (plus a sweep).
    let goneAt = 0;
    while (Date.now() - killedAt < LEASE_MS + 3000) {
      const ids = (await router.instances(PATH)).map((r) => r.instanceId);
      if (!ids.includes(tcpWorker.instanceId)) {
        goneAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(goneAt).toBeGreaterThan(0);
    expect(goneAt - killedAt).toBeGreaterThanOrEqual(LEASE_MS - HEARTBEAT_MS - 50);
    expect((await router.instances(PATH)).map((r) => r.instanceId)).toEqual([natsWorker.instanceId]);
    await new Promise((r) => setTimeout(r, 500));
    const tally = await calls.stop();
    if (process.env.WARDEN_TEST_VERBOSE)
      console.log('kill -9', tally, attempts.filter((a) => a.outcome !== 'ok').length);

    // Every call was answered, by the TCP worker before the kill or by the NATS worker.
    expect(tally.failed).toEqual({});
    expect(sum(tally.ok)).toBe(tally.total);
    expect(tally.ok['nats-worker']).toBeGreaterThan(20);
    // Tries of the dead worker failed before a first chunk and moved on; none after its lease ran out.
    const dead = attempts.filter(
      (a) => a.instance.instanceId === tcpWorker.instanceId && a.startedAt > diedAt,
    );
    expect(dead.length).toBeGreaterThan(0);
    expect(dead.filter((a) => a.outcome !== 'failover')).toEqual([]);
    expect(dead.filter((a) => a.startedAt > goneAt)).toEqual([]);
    const after = attempts.filter((a) => a.startedAt > goneAt);
    expect(after.length).toBeGreaterThan(10);
    expect(
      after.filter((a) => a.instance.instanceId !== natsWorker.instanceId || a.outcome !== 'ok'),
    ).toEqual([]);
  }, 30_000);
});
