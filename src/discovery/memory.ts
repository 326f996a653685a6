import { WardenError } from '../core/errors.js';
import {
  checkInstance,
  checkPath,
  type Discovery,
  type DiscoveryEvent,
  type DiscoveryPath,
  type InstanceRecord,
  instanceKey,
  matchesPath,
  sameInstance,
  type WatchOptions,
} from './discovery.js';
import { EventChannel } from './event-channel.js';

interface Watcher {
  readonly path: DiscoveryPath;
  readonly channel: EventChannel<DiscoveryEvent>;
}

/**
 * Discovery inside one process: the embedded default. Records live until they are unregistered
 * (there is no heartbeat to miss), and every watcher receives each change synchronously, in the
 * order the changes were made, before `register`/`unregister` returns.
 *
 * @example
 * ```ts
 * const discovery = new MemoryDiscovery();
 * const server = createTcpServer({ discovery });
 * const router = createRouter({ discovery, mode: 'round-robin' });
 * ```
 */
export class MemoryDiscovery implements Discovery {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  /** Publishes `instance`; registering the same instance again replaces its record (one entry, not two). */
  async register(instance: InstanceRecord): Promise<void> {
    this.checkOpen();
    const record = checkInstance(instance);
    const key = instanceKey(record);
    const known = this.records.get(key);
    if (known && sameInstance(known, record)) return;
    this.records.set(key, record);
    this.emit({ type: 'added', instance: record });
  }

  /** Withdraws every record of `instanceId` (only those under `path` when given), at once. */
  async unregister(instanceId: string, path?: DiscoveryPath): Promise<void> {
    this.checkOpen();
    const under = path === undefined ? undefined : checkPath(path);
    for (const [key, record] of this.records) {
      if (record.instanceId !== instanceId || (under && !matchesPath(record, under))) continue;
      this.records.delete(key);
      this.emit({ type: 'removed', instance: record });
    }
  }

  /** The records under `path`. */
  async list(path: DiscoveryPath): Promise<InstanceRecord[]> {
    this.checkOpen();
    const under = checkPath(path);
    return [...this.records.values()].filter((r) => matchesPath(r, under));
  }

  /** Changes under `path`, starting with an `added` per current record and a `synced`. */
  watch(path: DiscoveryPath, opts: WatchOptions = {}): AsyncIterable<DiscoveryEvent> {
    this.checkOpen();
    const under = checkPath(path);
    const watcher: Watcher = {
      path: under,
      channel: new EventChannel<DiscoveryEvent>(() => this.watchers.delete(watcher), opts.signal),
    };
    if (watcher.channel.closed) return watcher.channel;
    for (const record of this.records.values()) {
      if (matchesPath(record, under)) watcher.channel.push({ type: 'added', instance: record });
    }
    watcher.channel.push({ type: 'synced' });
    this.watchers.add(watcher);
    return watcher.channel;
  }

  /** Ends every watch; later calls are refused with `WARDEN_CLIENT_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.channel.end();
    this.records.clear();
  }

  private emit(event: DiscoveryEvent & { instance: InstanceRecord }): void {
    for (const w of this.watchers) {
      if (matchesPath(event.instance, w.path)) w.channel.push(event);
    }
  }

  private checkOpen(): void {
    if (this.closed)
      throw new WardenError('WARDEN_CLIENT_CLOSED', 'This discovery was closed; create a new one');
  }
}
