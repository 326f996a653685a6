/**
 * Watchers across connection loss: the set they show never goes through empty, and after the
 * connection comes back they report only what changed while they could not see.
 */

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsKvDiscovery } from '../../src/discovery/nats-kv.js';
import { encodeStored } from '../../src/discovery/nats-kv-view.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { describe1, freshNamespace, record, WatchReader } from './contract.js';

/** A loopback TCP proxy to NATS that can be cut and restored on the same port. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: number) {}

  async open(): Promise<void> {
    const server = createServer((down) => {
      const up = tcpConnect({ host: '127.0.0.1', port: this.target });
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => this.sockets.delete(s));
      }
      down.pipe(up).pipe(down);
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

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

/** Short leases: what is under test is that a watcher cut off for longer than one drops nothing. */
const LEASE_MS = 400;

function discovery(servers: string): NatsKvDiscovery {
  const d = new NatsKvDiscovery({
    servers,
    bucket: 'resync',
    heartbeatMs: LEASE_MS / 4,
    leaseMs: LEASE_MS,
    connectOptions: { reconnectTimeWait: 100 },
  });
  opened.push(d);
  return d;
}

describe('NatsKvDiscovery watchers across connection loss', () => {
  it('report only the difference after a reconnect, never emptying the set on the way', async () => {
    const proxy = new CuttableProxy(nats.port);
    await proxy.open();
    const ns = freshNamespace();
    const owner = discovery(nats.url);
    const stays = record(ns);
    const leaves = record(ns);
    await owner.register(stays);
    await owner.register(leaves);
    const watcher = discovery(`nats://127.0.0.1:${proxy.port}`);
    const w = new WatchReader(watcher.watch({ namespace: ns }));
    expect((await w.untilSynced()).sort()).toEqual([`+${stays.instanceId}`, `+${leaves.instanceId}`].sort());

    await proxy.cut(); // only the watcher is cut off; the owner keeps writing
    const comes = record(ns);
    await owner.unregister(leaves.instanceId);
    await owner.register(comes);
    // Cut off for two leases without a heartbeat in sight: the watcher must not drop anything.
    await w.quiet(2 * LEASE_MS);
    await proxy.open();

    const diff = await w.untilSynced(5000);
    expect(diff.sort()).toEqual([`+${comes.instanceId}`, `-${leaves.instanceId}`].sort());
    await w.quiet(3 * LEASE_MS); // `stays` is alive: no event for it
    await proxy.cut();
    await w.close();
  });

  it('keep their set through a nats-server restart and resync after it', async () => {
    const ns = freshNamespace();
    const owner = discovery(nats.url);
    const watcher = discovery(nats.url);
    const alive = record(ns);
    await owner.register(alive);
    const w = new WatchReader(watcher.watch({ namespace: ns }));
    expect(await w.untilSynced()).toEqual([`+${alive.instanceId}`]);
    // A record whose writer is gone. Its lease must outlast the outage, the restart (JetStream
    // recovers its store) and the resync, so that the resync still finds it.
    const DEAD_LEASE_MS = 4000;
    const dead = record(ns);
    const kv = await new Kvm(raw).create('resync');
    const wroteAt = Date.now();
    await kv.put(`${ns}.math.add.${dead.instanceId}`, encodeStored(dead, wroteAt, DEAD_LEASE_MS));
    expect(describe1((await w.next()) as never)).toBe(`+${dead.instanceId}`);

    await nats.stop();
    // Down for two leases of `alive`, without a heartbeat: the watcher must drop nothing.
    await w.quiet(2 * LEASE_MS);
    await nats.restart();

    // The resync finds both (nothing changed), then `dead` goes when its own lease runs out.
    expect(await w.untilSynced(8000)).toEqual([]);
    expect(await w.next(8000, `'removed' of the dead record`)).toEqual({ type: 'removed', instance: dead });
    expect(Date.now() - wroteAt).toBeGreaterThanOrEqual(DEAD_LEASE_MS); // not before its lease ran out
    await w.quiet(3 * LEASE_MS);
    expect(await watcher.list({ namespace: ns })).toEqual([alive]);
    await w.close();
  });
});
