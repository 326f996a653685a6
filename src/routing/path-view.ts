import type { Logger } from 'pino';
import { messageOf, WardenError } from '../core/errors.js';
import type { CallTarget } from '../core/request-plane.js';
import type { Discovery, DiscoveryPath, InstanceRecord } from '../discovery/discovery.js';

/** What the router knows of one instance of one path. */
export interface InstanceState {
  record: InstanceRecord;
  /** Built once per record: what the transport client is called with. */
  target: CallTarget;
  /** Calls in flight to it through this router. */
  inflight: number;
  /** Epoch ms until which it is avoided after failing before its first chunk (0: not down). */
  downUntil: number;
}

/** How long a failed watch waits before it is started again. */
const REWATCH_MS = 500;

/**
 * The live instances of one endpoint as a router sees them: fed by a discovery watch started on
 * first use, kept in instance-id order so round-robin is stable, and never emptied by a resync
 * (a restarted watch collects its full set first and swaps it in).
 */
export class PathView {
  /** Instances by id. */
  private readonly byId = new Map<string, InstanceState>();
  /** The same instances sorted by id; rebuilt on change. */
  list: InstanceState[] = [];
  /** Round-robin position (also the starting point of least-inflight's tie-break). */
  cursor = 0;
  synced = false;
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  private readonly abort = new AbortController();
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly discovery: Discovery,
    readonly path: DiscoveryPath & { component: string; endpoint: string },
    private readonly log: Logger,
  ) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    void this.run();
  }

  /** Resolves once the first watch has synced; rejects on `signal`, `deadline` or after `limitMs`. */
  waitReady(signal: AbortSignal | undefined, deadline: number | undefined, limitMs: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const byDeadline = deadline !== undefined && deadline - Date.now() < limitMs;
      const wait = byDeadline ? Math.max(0, (deadline as number) - Date.now()) : limitMs;
      const timer = setTimeout(() => {
        cleanup();
        reject(
          byDeadline
            ? new WardenError(
                'WARDEN_DEADLINE_EXCEEDED',
                'The deadline passed while discovery was still loading',
              )
            : new WardenError(
                'WARDEN_NO_INSTANCES',
                `Discovery did not list the instances of ${this.name()} within ${limitMs} ms; is its backend reachable?`,
              ),
        );
      }, wait);
      const onAbort = () => {
        cleanup();
        reject(new WardenError('WARDEN_CANCELLED', 'The caller cancelled the request'));
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.ready.then(() => {
        cleanup();
        resolve();
      });
    });
  }

  /** `namespace/component/endpoint`. */
  name(): string {
    return `${this.path.namespace}/${this.path.component}/${this.path.endpoint}`;
  }

  /** Stops the watch. */
  close(): void {
    this.abort.abort();
    if (this.retry) clearTimeout(this.retry);
  }

  private async run(): Promise<void> {
    // Until this watch's first `synced`, its events build a fresh set; then it replaces the old one.
    let staging: Map<string, InstanceRecord> | undefined = new Map();
    try {
      for await (const event of this.discovery.watch(this.path, { signal: this.abort.signal })) {
        if (event.type === 'synced') {
          if (staging) this.replace(staging);
          staging = undefined;
          if (!this.synced) {
            this.synced = true;
            this.markReady();
          }
        } else if (staging) {
          if (event.type === 'added') staging.set(event.instance.instanceId, event.instance);
          else staging.delete(event.instance.instanceId);
        } else if (event.type === 'added') this.upsert(event.instance);
        else this.remove(event.instance.instanceId);
      }
    } catch (err) {
      this.log.warn({ err: messageOf(err), path: this.name() }, 'discovery watch failed; watching again');
    }
    if (this.abort.signal.aborted) return;
    this.retry = setTimeout(() => void this.run(), REWATCH_MS);
    this.retry.unref();
  }

  private upsert(record: InstanceRecord): void {
    const known = this.byId.get(record.instanceId);
    if (known) {
      known.record = record;
      known.target = targetOf(record);
    } else this.byId.set(record.instanceId, { record, target: targetOf(record), inflight: 0, downUntil: 0 });
    this.rebuild();
  }

  private remove(instanceId: string): void {
    if (this.byId.delete(instanceId)) this.rebuild();
  }

  private replace(next: Map<string, InstanceRecord>): void {
    for (const id of [...this.byId.keys()]) if (!next.has(id)) this.byId.delete(id);
    for (const record of next.values()) {
      const known = this.byId.get(record.instanceId);
      if (known) {
        known.record = record;
        known.target = targetOf(record);
      } else
        this.byId.set(record.instanceId, { record, target: targetOf(record), inflight: 0, downUntil: 0 });
    }
    this.rebuild();
  }

  private rebuild(): void {
    this.list = [...this.byId.values()].sort((a, b) =>
      a.record.instanceId < b.record.instanceId ? -1 : a.record.instanceId > b.record.instanceId ? 1 : 0,
    );
  }
}

function targetOf(r: InstanceRecord): CallTarget {
  return {
    address: r.address,
    namespace: r.namespace,
    component: r.component,
    endpoint: r.endpoint,
    instanceId: r.instanceId,
  };
}
