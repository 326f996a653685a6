/**
 * The contract every `Discovery` keeps, run against each implementation: register, list, watch
 * (starting with the current set, in order), unregister, re-registering one instance, and records
 * refused with a clear error naming the field.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newInstanceId } from '../../src/core/request-plane.js';
import type { Discovery, DiscoveryEvent, InstanceRecord } from '../../src/discovery/discovery.js';
import { freshNamespace, record } from './records.js';

export { freshNamespace, record };

/** Reads a watch one event at a time, failing a test that waits too long. */
export class WatchReader {
  private readonly iter: AsyncIterator<DiscoveryEvent>;
  /** A read that outlived its timeout: the next read takes it over, so no event is lost. */
  private pending: Promise<IteratorResult<DiscoveryEvent>> | undefined;
  constructor(watch: AsyncIterable<DiscoveryEvent>) {
    this.iter = watch[Symbol.asyncIterator]();
  }

  async next(timeoutMs = 3000, what = 'a discovery event'): Promise<DiscoveryEvent | 'end'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    });
    this.pending ??= this.iter.next();
    try {
      const r = await Promise.race([this.pending, timeout]);
      this.pending = undefined;
      return r.done ? 'end' : r.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Events up to and including the next `synced`, as compact strings (`+id`, `-id`). */
  async untilSynced(timeoutMs = 3000): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const e = await this.next(timeoutMs, `synced (after ${out.join(' ') || 'nothing'})`);
      if (e === 'end') throw new Error(`the watch ended after ${out.join(' ')}`);
      if (e.type === 'synced') return out;
      out.push(describe1(e));
    }
  }

  /** Resolves when nothing arrives for `quietMs`; fails with the event if something does. */
  async quiet(quietMs: number): Promise<void> {
    const e = await this.next(quietMs).catch(() => undefined);
    if (e !== undefined) throw new Error(`expected no event, got ${e === 'end' ? 'end' : describe1(e)}`);
  }

  async close(): Promise<void> {
    this.pending = undefined;
    await this.iter.return?.();
  }
}

/** `+instanceId` for added, `-instanceId` for removed. */
export function describe1(e: DiscoveryEvent): string {
  if (e.type === 'synced') return 'synced';
  return `${e.type === 'added' ? '+' : '-'}${e.instance.instanceId}`;
}

/** Runs the contract against discoveries made by `make` (each test gets fresh ones, closed after). */
export function discoveryContract(name: string, make: () => Promise<Discovery>): void {
  describe(`${name} keeps the Discovery contract`, () => {
    const made: Discovery[] = [];
    const readers: WatchReader[] = [];
    const fresh = async (): Promise<Discovery> => {
      const d = await make();
      made.push(d);
      return d;
    };
    const watch = (d: Discovery, path: Parameters<Discovery['watch']>[0]): WatchReader => {
      const r = new WatchReader(d.watch(path));
      readers.push(r);
      return r;
    };
    afterEach(async () => {
      await Promise.all(readers.splice(0).map((r) => r.close()));
      await Promise.all(made.splice(0).map((d) => d.close()));
    });

    it('lists what was registered, filtered by namespace, component and endpoint', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const a = record(ns, { meta: { zone: 'a' } });
      const b = record(ns, { endpoint: 'mul' });
      const c = record(ns, {
        component: 'text',
        endpoint: 'upper',
        transport: 'nats',
        address: 'nats://127.0.0.1:4222',
      });
      for (const r of [a, b, c]) await d.register(r);
      const ids = (list: InstanceRecord[]) => list.map((r) => r.instanceId).sort();
      expect(ids(await d.list({ namespace: ns }))).toEqual([a, b, c].map((r) => r.instanceId).sort());
      expect(ids(await d.list({ namespace: ns, component: 'math' }))).toEqual(
        [a, b].map((r) => r.instanceId).sort(),
      );
      expect(await d.list({ namespace: ns, component: 'math', endpoint: 'add' })).toEqual([a]);
      expect(await d.list({ namespace: `${ns}x` })).toEqual([]);
    });

    it('fills in empty meta', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const { meta: _, ...bare } = record(ns);
      await d.register(bare as InstanceRecord);
      expect((await d.list({ namespace: ns }))[0]?.meta).toEqual({});
    });

    it('watch starts with the current set, then reports changes in order', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const a = record(ns);
      const b = record(ns);
      await d.register(a);
      await d.register(b);
      const w = watch(d, { namespace: ns, component: 'math', endpoint: 'add' });
      expect((await w.untilSynced()).sort()).toEqual([`+${a.instanceId}`, `+${b.instanceId}`].sort());
      const c = record(ns);
      await d.register(c);
      await d.register(record(ns, { endpoint: 'other' })); // not under the watched path
      await d.unregister(a.instanceId);
      await d.unregister(c.instanceId);
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const e = await w.next();
        seen.push(e === 'end' ? 'end' : describe1(e));
      }
      expect(seen).toEqual([`+${c.instanceId}`, `-${a.instanceId}`, `-${c.instanceId}`]);
    });

    it('watch of an empty path is synced at once with nothing in it', async () => {
      const d = await fresh();
      const w = watch(d, { namespace: freshNamespace() });
      expect(await w.untilSynced()).toEqual([]);
    });

    it('unregister withdraws at once, all records of the instance or only those under a path', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const instanceId = newInstanceId();
      const add = record(ns, { instanceId });
      const mul = record(ns, { instanceId, endpoint: 'mul' });
      const other = record(ns);
      for (const r of [add, mul, other]) await d.register(r);
      await d.unregister(instanceId, { namespace: ns, component: 'math', endpoint: 'mul' });
      expect((await d.list({ namespace: ns })).map((r) => r.endpoint).sort()).toEqual(['add', 'add']);
      await d.unregister(instanceId);
      expect(await d.list({ namespace: ns })).toEqual([other]);
      await d.unregister(newInstanceId()); // unknown: nothing happens
      expect(await d.list({ namespace: ns })).toEqual([other]);
    });

    it('registering the same instance again updates its record instead of adding a second', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const first = record(ns, { meta: { version: '1' } });
      await d.register(first);
      const w = watch(d, { namespace: ns });
      expect(await w.untilSynced()).toEqual([`+${first.instanceId}`]);
      await d.register(first); // same record: no event
      const second = { ...first, meta: { version: '2' } };
      await d.register(second);
      const e = await w.next();
      expect(e).toEqual({ type: 'added', instance: second });
      expect(await d.list({ namespace: ns })).toEqual([second]);
    });

    it('refuses bad records and paths with WARDEN_INVALID_OPTIONS naming the field', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const cases: Array<[Partial<Record<keyof InstanceRecord, unknown>>, string]> = [
        [{ instanceId: 'not-hex' }, 'instanceId'],
        [{ namespace: 'Bad Name' }, 'namespace'],
        [{ transport: 'udp' }, 'transport'],
        [{ address: 'localhost:4000' }, 'address'],
        [{ meta: { zone: 7 } }, 'meta.zone'],
      ];
      for (const [over, field] of cases) {
        const bad = { ...record(ns), ...over } as InstanceRecord;
        await expect(d.register(bad)).rejects.toMatchObject({
          code: 'WARDEN_INVALID_OPTIONS',
          message: expect.stringContaining(field),
        });
      }
      await expect(d.register({ ...record(ns), extra: 1 } as InstanceRecord)).rejects.toMatchObject({
        code: 'WARDEN_INVALID_OPTIONS',
      });
      await expect(d.list({ namespace: 'UPPER' })).rejects.toMatchObject({
        code: 'WARDEN_INVALID_OPTIONS',
        message: expect.stringContaining('namespace'),
      });
      expect(() => d.watch({ namespace: ns, endpoint: 'add' })).toThrow(/component/);
      expect(await d.list({ namespace: ns })).toEqual([]);
    });

    it('ends a watch when its signal aborts, and every watch on close()', async () => {
      const d = await fresh();
      const ns = freshNamespace();
      const ac = new AbortController();
      const w1 = new WatchReader(d.watch({ namespace: ns }, { signal: ac.signal }));
      const w2 = new WatchReader(d.watch({ namespace: ns }));
      expect(await w1.untilSynced()).toEqual([]);
      expect(await w2.untilSynced()).toEqual([]);
      ac.abort();
      expect(await w1.next()).toBe('end');
      await d.close();
      expect(await w2.next()).toBe('end');
      await expect(d.register(record(ns))).rejects.toMatchObject({ code: 'WARDEN_CLIENT_CLOSED' });
    });
  });
}
