import type { Bucket, KvEntry, KvWatchEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import type { Logger } from 'pino';
import { messageOf } from '../core/errors.js';
import {
  type DiscoveryEvent,
  type DiscoveryPath,
  type InstanceRecord,
  InstanceRecordSchema,
  instanceKey,
  sameInstance,
} from './discovery.js';
import type { EventChannel } from './event-channel.js';

/** A record as it is stored under its key: the instance, when its heartbeat was written, and its lease. */
export interface StoredInstance {
  readonly record: InstanceRecord;
  /** Epoch ms of the writer's clock when it wrote this heartbeat. */
  readonly heartbeatAt: number;
  /** How long after `heartbeatAt` the record counts as alive without a newer heartbeat. */
  readonly leaseMs: number;
  /** The KV revision (stream sequence) of the message. */
  readonly revision: number;
}

/** The KV key filter of a path: `ns.>`, `ns.comp.>` or `ns.comp.ep.*`. */
export function keyFilter(path: DiscoveryPath): string {
  if (path.component === undefined) return `${path.namespace}.>`;
  if (path.endpoint === undefined) return `${path.namespace}.${path.component}.>`;
  return `${path.namespace}.${path.component}.${path.endpoint}.*`;
}

/** The JSON stored under a key. */
export function encodeStored(record: InstanceRecord, heartbeatAt: number, leaseMs: number): string {
  return JSON.stringify({ ...record, heartbeatAt, leaseMs });
}

/**
 * Reads a KV entry back into a record, or `undefined` when it is a delete marker or not a valid
 * record of that key (a foreign or corrupt value is ignored, never trusted).
 */
export function decodeStored(entry: KvEntry, defaultLeaseMs: number): StoredInstance | undefined {
  if (entry.operation !== 'PUT') return undefined;
  let raw: unknown;
  try {
    raw = entry.json<unknown>();
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { heartbeatAt, leaseMs, ...rest } = raw as Record<string, unknown>;
  if (typeof heartbeatAt !== 'number' || !Number.isFinite(heartbeatAt)) return undefined;
  const parsed = InstanceRecordSchema.safeParse(rest);
  if (!parsed.success || instanceKey(parsed.data) !== entry.key) return undefined;
  return {
    record: parsed.data,
    heartbeatAt,
    leaseMs: typeof leaseMs === 'number' && leaseMs > 0 ? leaseMs : defaultLeaseMs,
    revision: entry.revision,
  };
}

/** True while a stored record's heartbeat is younger than its lease. */
export function isFresh(s: StoredInstance, now: number): boolean {
  return now - s.heartbeatAt <= s.leaseMs;
}

/**
 * Reads every key under `filter` and its current value. The keys come from one stream-info request
 * (`subjects_filter`), not from a consumer: a consumer-based key listing waits for a quiet moment,
 * which a bucket under steady heartbeats may never have. Keys whose last message is a delete
 * marker come back in `deleted`, with its revision.
 */
export async function snapshot(
  kv: Bucket,
  filter: string,
  defaultLeaseMs: number,
): Promise<{ entries: Map<string, StoredInstance>; deleted: Map<string, number> }> {
  const info = await kv.jsm.streams.info(kv.stream, { subjects_filter: `${kv.prefix}.${filter}` });
  const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(kv.prefix.length + 1));
  const entries = new Map<string, StoredInstance>();
  const deleted = new Map<string, number>();
  for (let i = 0; i < keys.length; i += 64) {
    const got = await Promise.all(keys.slice(i, i + 64).map((k) => kv.get(k)));
    for (const entry of got) {
      if (!entry) continue;
      const stored = decodeStored(entry, defaultLeaseMs);
      if (stored) entries.set(entry.key, stored);
      else deleted.set(entry.key, entry.revision);
    }
  }
  return { entries, deleted };
}

/** What a view needs from its discovery. */
export interface ViewHost {
  bucket(): Promise<Bucket>;
  readonly leaseMs: number;
  readonly resyncDelayMs: number;
  readonly log: Logger;
  viewClosed(view: KvView): void;
}

/**
 * One `watch()` on NATS KV. It keeps the last record of every key under its path and shows the
 * watcher the records that are alive: an `added` when one appears (or its record changes), a
 * `removed` when it is deleted or its heartbeat grows older than its lease.
 *
 * A sync (at start, and again after every reconnect or broken feed) opens a watch of updates
 * first, then reads a snapshot, applies the updates that arrived meanwhile by revision, swaps the
 * result in, and reports only the differences to what the watcher was shown: the set never goes
 * through empty. While the feed is down (disconnected, resyncing) the view cannot see heartbeats,
 * so it keeps what it showed; after a resync it keeps showing stale records for one more lease,
 * long enough for their owners, who were cut off too, to write a heartbeat again.
 */
export class KvView {
  private entries = new Map<string, StoredInstance>();
  private deleted = new Map<string, number>();
  private readonly shown = new Map<string, InstanceRecord>();
  /** Updates that arrive while a snapshot is read; undefined while the feed is live. */
  private pending: KvWatchEntry[] | undefined;
  private frozen = true;
  /** When the last resync that replaced a shown set completed (0: never). */
  private resyncedAt = 0;
  private generation = 0;
  private feed: { stop(): void } | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly host: ViewHost,
    private readonly filter: string,
    readonly channel: EventChannel<DiscoveryEvent>,
  ) {}

  /** Stops the feed and any retry; the channel has ended or is ending. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    if (this.retry) clearTimeout(this.retry);
    this.feed?.stop();
    this.feed = undefined;
    this.host.viewClosed(this);
  }

  /** The connection dropped: keep showing what was shown until a resync tells otherwise. */
  freeze(): void {
    this.frozen = true;
  }

  /** (Re)builds the view from a snapshot plus the updates that raced it; on failure, tries again later. */
  async sync(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.frozen = true;
    this.feed?.stop();
    this.feed = undefined;
    try {
      const kv = await this.host.bucket();
      if (gen !== this.generation) return;
      this.pending = [];
      const feed = await kv.watch({ key: this.filter, include: KvWatchInclude.UpdatesOnly });
      if (gen !== this.generation) {
        feed.stop();
        return;
      }
      this.feed = feed;
      void this.pump(feed, gen);
      const snap = await snapshot(kv, this.filter, this.host.leaseMs);
      if (gen !== this.generation) return;
      const raced = this.pending;
      this.pending = undefined;
      this.entries = snap.entries;
      this.deleted = snap.deleted;
      for (const e of raced) this.apply(e);
      this.frozen = false;
      this.resyncedAt = this.shown.size > 0 ? Date.now() : 0;
      this.reconcileAll();
      this.channel.push({ type: 'synced' });
    } catch (err) {
      if (gen !== this.generation || this.stopped) return;
      this.host.log.warn(
        { err: messageOf(err), filter: this.filter },
        'discovery watch could not sync; retrying',
      );
      this.later(gen);
    }
  }

  /** Drops the records whose lease ran out (called by the discovery's sweep timer). */
  sweep(): void {
    if (!this.stopped) this.reconcileAll();
  }

  private later(gen: number): void {
    if (this.stopped || gen !== this.generation) return;
    this.retry = setTimeout(() => void this.sync(), this.host.resyncDelayMs);
    this.retry.unref();
  }

  private async pump(feed: AsyncIterable<KvWatchEntry>, gen: number): Promise<void> {
    try {
      for await (const e of feed) {
        if (gen !== this.generation) return;
        if (this.pending) this.pending.push(e);
        else {
          this.apply(e);
          this.reconcile(e.key);
        }
      }
    } catch (err) {
      this.host.log.debug({ err: messageOf(err) }, 'discovery watch feed failed');
    }
    // The feed ended without being stopped by a resync: build a new one.
    if (gen === this.generation && !this.stopped) {
      this.frozen = true;
      this.later(gen);
    }
  }

  /** Applies one update if it is newer than what the view holds for its key. */
  private apply(e: KvWatchEntry): void {
    const held = this.entries.get(e.key);
    const gone = this.deleted.get(e.key);
    if ((held && held.revision >= e.revision) || (gone !== undefined && gone >= e.revision)) return;
    const stored = decodeStored(e, this.host.leaseMs);
    if (stored) {
      this.entries.set(e.key, stored);
      this.deleted.delete(e.key);
    } else {
      this.entries.delete(e.key);
      this.deleted.set(e.key, e.revision);
    }
  }

  private reconcileAll(): void {
    const now = Date.now();
    for (const key of this.entries.keys()) this.reconcile(key, now);
    for (const key of [...this.shown.keys()]) if (!this.entries.has(key)) this.reconcile(key, now);
  }

  private reconcile(key: string, now = Date.now()): void {
    const stored = this.entries.get(key);
    const shown = this.shown.get(key);
    const alive =
      stored !== undefined &&
      (isFresh(stored, now) ||
        (shown !== undefined &&
          (this.frozen || now - this.resyncedAt <= Math.max(stored.leaseMs, this.host.leaseMs))));
    if (alive) {
      if (shown && sameInstance(shown, stored.record)) return;
      this.shown.set(key, stored.record);
      this.channel.push({ type: 'added', instance: stored.record });
    } else if (shown) {
      this.shown.delete(key);
      this.channel.push({ type: 'removed', instance: shown });
    }
  }
}
