import { Bucket, Kvm, type KvOptions } from '@nats-io/kv';
import { type ConnectionOptions, connect, type NatsConnection } from '@nats-io/transport-node';
import { type Logger, pino } from 'pino';
import { z } from 'zod';
import { messageOf, WardenError } from '../core/errors.js';
import { parseOptions } from '../core/validate.js';
import {
  checkInstance,
  checkPath,
  type Discovery,
  type DiscoveryEvent,
  type DiscoveryPath,
  type InstanceRecord,
  instanceKey,
  matchesPath,
  type WatchOptions,
} from './discovery.js';
import { EventChannel } from './event-channel.js';
import { encodeStored, isFresh, KvView, keyFilter, snapshot, type ViewHost } from './nats-kv-view.js';

/** Options of {@link NatsKvDiscovery}. Give `servers` or `connection`. */
export interface NatsKvDiscoveryOptions {
  /** NATS server URL(s); the discovery owns that connection (it reconnects forever) and closes it on `close()`. */
  readonly servers?: string | readonly string[];
  /**
   * An open connection to use instead (not closed by `close()`). Keep its reconnect on: a
   * connection that closes for good ends every watch with `WARDEN_CONNECTION_CLOSED`.
   */
  readonly connection?: NatsConnection;
  /** nats.js connection options for an owned connection (auth, TLS, ...), passed through unchanged. */
  readonly connectOptions?: Partial<ConnectionOptions>;
  /** The KV bucket (default `warden-instances`); created on first use when missing. */
  readonly bucket?: string;
  /** How often each registered record's heartbeat is written, ms (default 1000). */
  readonly heartbeatMs?: number;
  /** A record whose heartbeat is older than this is gone, ms (default 3000; more than `heartbeatMs`). */
  readonly leaseMs?: number;
  /** How often watchers look for leases that ran out, ms (default `leaseMs / 10`, at least 25). */
  readonly sweepMs?: number;
  /** Wait before a failed watch sync is tried again, ms (default 250). */
  readonly resyncDelayMs?: number;
  /**
   * Max age of the bucket's messages when this discovery creates it, ms (default 600000; 0 keeps
   * them forever). It is a stream limit, which every nats-server enforces, not a per-key TTL: it
   * clears the last records of instances that died and the markers of those that left. Live
   * records are rewritten every heartbeat, so it must exceed `leaseMs`.
   */
  readonly maxAgeMs?: number;
  /** Storage of a bucket this discovery creates (default `file`). */
  readonly storage?: 'file' | 'memory';
  /** A pino logger (default: silent). */
  readonly logger?: Logger;
}

const opaque = z.custom<unknown>((v) => typeof v === 'object' && v !== null, 'expected an object');
const OptionsSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    connection: opaque.optional(),
    connectOptions: z.record(z.string(), z.unknown()).optional(),
    bucket: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/, 'must be letters, digits, _ and -')
      .default('warden-instances'),
    heartbeatMs: z.number().int().min(10).default(1000),
    leaseMs: z.number().int().min(20).default(3000),
    sweepMs: z.number().int().min(5).optional(),
    resyncDelayMs: z.number().int().min(1).default(250),
    maxAgeMs: z.number().int().min(0).default(600_000),
    storage: z.enum(['file', 'memory']).default('file'),
    logger: opaque.optional(),
  })
  .strict()
  .refine((o) => o.servers !== undefined || o.connection !== undefined, {
    message: 'give servers (URLs) or connection (an open NatsConnection)',
    path: ['servers'],
  })
  .refine((o) => o.leaseMs > o.heartbeatMs, {
    message: 'must be longer than heartbeatMs (at least two heartbeats is safer)',
    path: ['leaseMs'],
  })
  .refine((o) => o.maxAgeMs === 0 || o.maxAgeMs > 2 * o.leaseMs, {
    message: 'must be 0 (keep forever) or more than twice leaseMs',
    path: ['maxAgeMs'],
  });

interface Registration {
  record: InstanceRecord;
  /** The write in flight for this key, so a heartbeat never races a register or an unregister. */
  writing: Promise<void> | undefined;
}

/**
 * Discovery on NATS JetStream KV, for many processes on many machines. Each record lives under
 * `{namespace}.{component}.{endpoint}.{instanceId}` in one bucket; its value is the record, the
 * time of its last heartbeat and its lease. This process rewrites each record it registered every
 * `heartbeatMs`; readers treat a record whose heartbeat is older than its lease as gone (list()
 * leaves it out, watchers get `removed`), so liveness never depends on a per-key TTL, which
 * nats-server 2.9 accepts and ignores. `unregister` deletes the key at once.
 *
 * Watchers resync after the connection comes back and report only the differences: the set
 * they show never passes through empty. Clocks of writers and readers are compared, so keep them
 * in sync (NTP) to well within the lease.
 *
 * @example
 * ```ts
 * const discovery = new NatsKvDiscovery({ servers: 'nats://127.0.0.1:4222' });
 * const server = createTcpServer({ discovery });      // publishes each endpoint it serves
 * const router = createRouter({ discovery, mode: 'least-inflight' });
 * await discovery.close();
 * ```
 */
export class NatsKvDiscovery implements Discovery {
  /** The heartbeat interval, ms. */
  readonly heartbeatMs: number;
  /** The lease written with each record, ms. */
  readonly leaseMs: number;
  private readonly sweepMs: number;
  private readonly beatTimeoutMs: number;
  private readonly bucketName: string;
  private readonly host: ViewHost;
  private readonly log: Logger;
  private readonly config: z.output<typeof OptionsSchema>;
  private nc: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private kv: Bucket | undefined;
  private opening: Promise<Bucket> | undefined;
  private connected = false;
  private readonly registrations = new Map<string, Registration>();
  private readonly views = new Set<KvView>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: NatsKvDiscoveryOptions) {
    this.config = parseOptions(OptionsSchema, options, 'NatsKvDiscovery options');
    this.heartbeatMs = this.config.heartbeatMs;
    this.leaseMs = this.config.leaseMs;
    this.sweepMs = this.config.sweepMs ?? Math.max(25, Math.round(this.leaseMs / 10));
    this.beatTimeoutMs = Math.max(
      50,
      Math.min(Math.round(this.leaseMs / 2), Math.max(this.heartbeatMs, 250)),
    );
    this.bucketName = this.config.bucket;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ discovery: 'nats-kv' });
    this.host = {
      bucket: () => this.bucket(),
      leaseMs: this.leaseMs,
      resyncDelayMs: this.config.resyncDelayMs,
      log: this.log,
      viewClosed: (view) => {
        this.views.delete(view);
        if (this.views.size === 0 && this.sweepTimer) {
          clearInterval(this.sweepTimer);
          this.sweepTimer = undefined;
        }
      },
    };
  }

  /** Writes `instance` now and keeps its heartbeat going; registering it again replaces its record. */
  async register(instance: InstanceRecord): Promise<void> {
    this.checkOpen();
    const record = checkInstance(instance);
    const kv = await this.bucket();
    const key = instanceKey(record);
    let reg = this.registrations.get(key);
    if (reg) reg.record = record;
    else {
      reg = { record, writing: undefined };
      this.registrations.set(key, reg);
    }
    await reg.writing;
    const write = kv.put(key, encodeStored(record, Date.now(), this.leaseMs));
    const settled = write.then(
      () => {},
      () => {},
    );
    reg.writing = settled;
    try {
      await write;
    } catch (err) {
      if (this.registrations.get(key) === reg) this.registrations.delete(key);
      throw new WardenError(
        'WARDEN_CONNECTION_FAILED',
        `Could not register ${key} in NATS KV bucket '${this.bucketName}': ${messageOf(err)}`,
        { cause: err },
      );
    } finally {
      if (reg.writing === settled) reg.writing = undefined;
    }
    this.startHeartbeat();
  }

  /**
   * Deletes at once the records of `instanceId` (only those under `path` when given): those this
   * process registered, and those another process left behind.
   */
  async unregister(instanceId: string, path?: DiscoveryPath): Promise<void> {
    this.checkOpen();
    const under = path === undefined ? undefined : checkPath(path);
    const kv = await this.bucket();
    const keys = new Set<string>();
    for (const [key, reg] of this.registrations) {
      if (reg.record.instanceId !== instanceId || (under && !matchesPath(reg.record, under))) continue;
      this.registrations.delete(key);
      await reg.writing;
      keys.add(key);
    }
    if (this.registrations.size === 0) this.stopHeartbeat();
    if (under?.endpoint !== undefined) keys.add(`${keyFilter(under).slice(0, -1)}${instanceId}`);
    else {
      const filter = `${under?.namespace ?? '*'}.${under?.component ?? '*'}.*.${instanceId}`;
      for (const key of (await snapshot(kv, filter, this.leaseMs)).entries.keys()) keys.add(key);
    }
    try {
      await Promise.all([...keys].map((key) => kv.delete(key)));
    } catch (err) {
      throw new WardenError(
        'WARDEN_CONNECTION_FAILED',
        `Could not delete instance ${instanceId} from NATS KV bucket '${this.bucketName}': ${messageOf(err)}`,
        { cause: err },
      );
    }
  }

  /** The records under `path` whose heartbeat is younger than their lease. */
  async list(path: DiscoveryPath): Promise<InstanceRecord[]> {
    this.checkOpen();
    const under = checkPath(path);
    const kv = await this.bucket();
    const { entries } = await snapshot(kv, keyFilter(under), this.leaseMs);
    const now = Date.now();
    return [...entries.values()].filter((s) => isFresh(s, now)).map((s) => s.record);
  }

  /**
   * Live records under `path`: an `added` for each current one and a `synced`, then changes as
   * they happen; `removed` also when a record's lease runs out. After a reconnect the watcher
   * resyncs and reports only the differences, followed by another `synced`.
   */
  watch(path: DiscoveryPath, opts: WatchOptions = {}): AsyncIterable<DiscoveryEvent> {
    this.checkOpen();
    const under = checkPath(path);
    let view: KvView | undefined;
    const channel = new EventChannel<DiscoveryEvent>(() => view?.stop(), opts.signal);
    if (channel.closed) return channel;
    view = new KvView(this.host, keyFilter(under), channel);
    this.views.add(view);
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => {
        for (const v of this.views) v.sweep();
      }, this.sweepMs);
      this.sweepTimer.unref();
    }
    void view.sync();
    return channel;
  }

  /**
   * Stops every timer and watch, deletes the records this process registered (bounded by 2 s),
   * and closes the connection if it owns it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeat();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const view of [...this.views]) view.channel.end();
    const kv = this.kv;
    const keys = [...this.registrations.keys()];
    const writes = [...this.registrations.values()].map((r) => r.writing);
    this.registrations.clear();
    if (kv && keys.length > 0 && this.connected) {
      const withdraw = Promise.all(writes).then(() => Promise.all(keys.map((k) => kv.delete(k))));
      await bounded(withdraw, 2000).catch((err) =>
        this.log.warn({ err: messageOf(err) }, 'could not delete the records of this process'),
      );
    }
    const nc = this.nc ?? (this.connecting ? await this.connecting.catch(() => undefined) : undefined);
    if (nc && !this.options.connection && !nc.isClosed())
      await bounded(nc.drain(), 2000).catch(() => nc.close());
  }

  /** The bucket, opened (and created when missing) on first use. */
  private bucket(): Promise<Bucket> {
    if (this.kv) return Promise.resolve(this.kv);
    this.opening ??= (async () => {
      const nc = await this.connection().catch((err: unknown) => {
        if (err instanceof WardenError) throw err;
        throw new WardenError(
          'WARDEN_CONNECTION_FAILED',
          `Cannot reach NATS for discovery (${this.serversText()}): ${messageOf(err)}`,
          { cause: err },
        );
      });
      const opts: Partial<KvOptions> = { history: 1, storage: this.config.storage as KvOptions['storage'] };
      if (this.config.maxAgeMs > 0) opts.ttl = this.config.maxAgeMs;
      const kv = await new Kvm(nc).create(this.bucketName, opts);
      // Kvm hands out Bucket objects; the snapshot needs its stream name and subject prefix.
      if (!(kv instanceof Bucket)) throw new Error('@nats-io/kv returned an unexpected KV implementation');
      this.kv = kv;
      return kv;
    })();
    const opening = this.opening;
    opening.catch(() => {
      if (this.opening === opening) this.opening = undefined;
    });
    return opening.catch((err) => {
      if (err instanceof WardenError) throw err;
      throw new WardenError(
        'WARDEN_CONNECTION_FAILED',
        `Cannot open the NATS KV bucket '${this.bucketName}' (is JetStream on?): ${messageOf(err)}`,
        { cause: err },
      );
    });
  }

  private connection(): Promise<NatsConnection> {
    this.connecting ??= (async () => {
      const given = this.options.connection;
      const servers = this.options.servers;
      const nc =
        given ??
        (await connect({
          reconnectTimeWait: 250,
          maxReconnectAttempts: -1,
          ...this.options.connectOptions,
          servers: typeof servers === 'string' ? servers : [...(servers ?? [])],
        }));
      if (this.closed && !given) {
        await nc.close().catch(() => {});
        throw new WardenError('WARDEN_CLIENT_CLOSED', 'This discovery was closed; create a new one');
      }
      this.adopt(nc);
      return nc;
    })();
    const connecting = this.connecting;
    connecting.catch(() => {
      if (this.connecting === connecting) this.connecting = undefined;
    });
    return connecting;
  }

  private adopt(nc: NatsConnection): void {
    this.nc = nc;
    this.connected = !nc.isClosed();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.log.warn('NATS connection lost; watchers keep their sets until they resync');
          for (const v of this.views) v.freeze();
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.log.info('NATS connection back; resyncing watchers and heartbeats');
          this.beat();
          for (const v of this.views) void v.sync();
        }
      }
    })().catch(() => {});
    void nc.closed().then(() => {
      this.connected = false;
      if (this.closed) return;
      this.log.error('the NATS connection of discovery closed for good');
      this.nc = undefined;
      this.kv = undefined;
      this.connecting = undefined;
      this.opening = undefined;
      const err = new WardenError(
        'WARDEN_CONNECTION_CLOSED',
        'The NATS connection of discovery closed; the watch cannot continue',
      );
      for (const v of [...this.views]) v.channel.end(err);
    });
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer || this.closed) return;
    this.heartbeatTimer = setInterval(() => this.beat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Rewrites every registered record with a fresh heartbeat; a record whose last write is still in flight waits. */
  private beat(): void {
    const kv = this.kv;
    if (!kv || !this.connected || this.closed) return;
    for (const [key, reg] of this.registrations) {
      if (reg.writing) continue;
      // Bounded well inside the lease: a put stuck on a server that is still starting must not
      // hold back the heartbeats after it (the default JetStream timeout is 5 s).
      reg.writing = kv
        .put(key, encodeStored(reg.record, Date.now(), this.leaseMs), { timeout: this.beatTimeoutMs })
        .then(
          () => {},
          (err) => this.log.warn({ err: messageOf(err), key }, 'heartbeat not written'),
        )
        .finally(() => {
          reg.writing = undefined;
        });
    }
  }

  private serversText(): string {
    const servers = this.options.servers;
    if (servers === undefined) return 'the given connection';
    return typeof servers === 'string' ? servers : servers.join(', ');
  }

  private checkOpen(): void {
    if (this.closed)
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'This discovery was closed; create a new one');
  }
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
