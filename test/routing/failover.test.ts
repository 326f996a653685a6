import { afterEach, describe, expect, it, vi } from 'vitest';
import { WardenError } from '../../src/core/errors.js';
import type { RouteAttempt, Router } from '../../src/routing/router.js';
import { fail, hang, reply, type Script } from './fake-client.js';
import { fakeRouter, PATH } from './helpers.js';

const routers: Router[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

async function make(n: number, options: Parameters<typeof fakeRouter>[1] = {}) {
  const made = await fakeRouter(n, options);
  routers.push(made.router);
  return made;
}

const BEFORE_FIRST_CHUNK = [
  'WARDEN_CONNECTION_FAILED',
  'WARDEN_CONNECTION_CLOSED',
  'WARDEN_NO_RESPONDERS',
  'WARDEN_ENDPOINT_DRAINING',
  'WARDEN_ENDPOINT_NOT_FOUND',
  'WARDEN_INSTANCE_NOT_FOUND',
] as const;

describe('router failover', () => {
  for (const code of BEFORE_FIRST_CHUNK) {
    it(`moves a call that failed with ${code} before its first chunk to another instance`, async () => {
      const attempts: RouteAttempt[] = [];
      const { router, client, instances } = await make(2, { onAttempt: (a) => attempts.push(a) });
      const [bad, good] = instances as [(typeof instances)[0], (typeof instances)[0]];
      client.scripts.set(bad.address, fail(code));
      for (let i = 0; i < 4; i++) expect(await router.request(PATH, i)).toBe(good.address);
      // Tried once, then avoided for the cool-down: every later call went straight to `good`.
      expect(client.counts()).toEqual({ [bad.address]: 1, [good.address]: 4 });
      expect(attempts.slice(0, 2)).toMatchObject([
        { instance: bad, attempt: 1, outcome: 'failover', code },
        { instance: good, attempt: 2, outcome: 'ok' },
      ]);
    });
  }

  it('streams: a failure before the first chunk moves on too', async () => {
    const { router, client, instances } = await make(2);
    client.scripts.set(instances[0]?.address as string, fail('WARDEN_CONNECTION_CLOSED'));
    const chunks: unknown[] = [];
    for await (const c of router.call(PATH, 'x')) chunks.push(c);
    expect(chunks).toEqual([instances[1]?.address]);
  });

  it('tries a marked-down instance again once its cool-down ends, by the router clock', async () => {
    let now = 1_000_000;
    const { router, client, instances } = await make(2, { cooldownMs: 60_000, now: () => now });
    const [bad, good] = instances as [(typeof instances)[0], (typeof instances)[0]];
    client.scripts.set(bad.address, fail('WARDEN_CONNECTION_FAILED'));
    await router.request(PATH, 0);
    client.scripts.set(bad.address, reply(bad.address));
    const picked = async (): Promise<Set<unknown>> => {
      const seen = new Set<unknown>();
      for (let i = 0; i < 4; i++) seen.add(await router.request(PATH, i));
      return seen;
    };
    expect(await picked()).toEqual(new Set([good.address]));
    now += 59_999; // one ms short of the cool-down: still avoided
    expect(await picked()).toEqual(new Set([good.address]));
    now += 1;
    expect(await picked()).toEqual(new Set([bad.address, good.address]));
  });

  it('reports each try with its start time on the router clock', async () => {
    const attempts: RouteAttempt[] = [];
    const { router, client, instances } = await make(2, {
      now: () => 42,
      onAttempt: (a) => attempts.push(a),
    });
    client.scripts.set(instances[0]?.address as string, fail('WARDEN_NO_RESPONDERS'));
    await router.request(PATH, 0);
    expect(attempts.map((a) => [a.outcome, a.startedAt])).toEqual([
      ['failover', 42],
      ['ok', 42],
    ]);
  });

  it('gives up after maxTries with the last failure', async () => {
    const { router, client, instances } = await make(4, { maxTries: 3 });
    for (const r of instances) client.scripts.set(r.address, fail('WARDEN_NO_RESPONDERS'));
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_NO_RESPONDERS' });
    expect(client.calls.length).toBe(3);
    expect(new Set(client.calls).size).toBe(3);
  });

  it('uses down instances as a last resort, and each instance once per call', async () => {
    const { router, client, instances } = await make(2, { maxTries: 5 });
    for (const r of instances) client.scripts.set(r.address, fail('WARDEN_CONNECTION_FAILED'));
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_CONNECTION_FAILED' });
    expect(client.calls.length).toBe(2); // both tried once, none twice
    const good = instances[1]?.address as string;
    client.scripts.set(good, reply(good));
    expect(await router.request(PATH, 0)).toBe(good); // both down: tried anyway
  });

  it('never runs a request again after its first chunk: the error reaches the caller', async () => {
    const { router, client, instances } = await make(2);
    const executions: string[] = [];
    const halfway: Script = ({ stream, target }) => {
      executions.push(target.address);
      queueMicrotask(() => {
        stream.push('first');
        stream.error(new WardenError('WARDEN_CONNECTION_CLOSED', 'the connection closed mid-stream'));
      });
    };
    for (const r of instances) client.scripts.set(r.address, halfway);
    const chunks: unknown[] = [];
    await expect(
      (async () => {
        for await (const c of router.call(PATH, 'x')) chunks.push(c);
      })(),
    ).rejects.toMatchObject({ code: 'WARDEN_CONNECTION_CLOSED' });
    expect(chunks).toEqual(['first']);
    await expect(router.request(PATH, 'y')).rejects.toMatchObject({ code: 'WARDEN_CONNECTION_CLOSED' });
    expect(executions.length).toBe(2); // two calls, each executed once
    expect(client.calls.length).toBe(2);
  });

  it('does not fail over on errors of the request itself', async () => {
    const { router, client, instances } = await make(2);
    for (const r of instances) client.scripts.set(r.address, fail('WARDEN_INVALID_REQUEST'));
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_INVALID_REQUEST' });
    expect(client.calls.length).toBe(1);
  });

  it('passes the caller cancel through without retrying', async () => {
    const { router, client, instances } = await make(2);
    const slow = hang();
    for (const r of instances) client.scripts.set(r.address, slow);
    const ac = new AbortController();
    const pending = router.request(PATH, 0, { signal: ac.signal });
    await vi.waitFor(() => expect(slow.waiting, 'the call reached the instance').toBe(1), { interval: 1 });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: 'WARDEN_CANCELLED' });
    expect(client.calls.length).toBe(1);
    const aborted = AbortSignal.abort();
    await expect(router.request(PATH, 0, { signal: aborted })).rejects.toMatchObject({
      code: 'WARDEN_CANCELLED',
    });
  });

  it('applies the deadline to the whole call, tries included', async () => {
    const { router, client, instances } = await make(2);
    const deadlines: Array<number | undefined> = [];
    client.scripts.set(instances[0]?.address as string, ({ stream }) => {
      deadlines.push(stream.deadline);
      queueMicrotask(() =>
        stream.error(new WardenError('WARDEN_CONNECTION_CLOSED', 'failed before a chunk')),
      );
    });
    const slow = hang();
    client.scripts.set(instances[1]?.address as string, (call) => {
      deadlines.push(call.stream.deadline);
      slow(call);
    });
    await expect(router.request(PATH, 0, { timeoutMs: 150 })).rejects.toMatchObject({
      code: 'WARDEN_DEADLINE_EXCEEDED',
    });
    expect(client.calls.length).toBe(2);
    // The second try gets what is left of the call's deadline, not a fresh 150 ms.
    const [first, second] = deadlines as [number, number];
    expect(Math.abs(second - first)).toBeLessThanOrEqual(5);
  });

  it('fails with WARDEN_NO_INSTANCES when nothing serves the path', async () => {
    const { router } = await make(0);
    await expect(router.request(PATH, 0)).rejects.toMatchObject({
      code: 'WARDEN_NO_INSTANCES',
      message: expect.stringContaining('shop/cart/add'),
    });
    await expect(
      (async () => {
        for await (const _ of router.call(PATH, 0)) {
          // nothing arrives
        }
      })(),
    ).rejects.toMatchObject({ code: 'WARDEN_NO_INSTANCES' });
  });

  it('fails fast with WARDEN_OVERLOADED when every instance is at its busy threshold', async () => {
    const { router, client, instances } = await make(2, { busyThreshold: 2 });
    const slow = hang();
    for (const r of instances) client.scripts.set(r.address, slow);
    const inflight = Array.from({ length: 4 }, (_, i) => router.request(PATH, i));
    await vi.waitFor(() => expect(slow.waiting, 'calls held by the instances').toBe(4), { interval: 1 });
    await expect(router.request(PATH, 5)).rejects.toMatchObject({ code: 'WARDEN_OVERLOADED' });
    expect(client.calls.length).toBe(4);
    slow.release('done');
    expect(await Promise.all(inflight)).toEqual(['done', 'done', 'done', 'done']);
    for (const r of instances) client.scripts.set(r.address, reply('ok'));
    expect(await router.request(PATH, 6)).toBe('ok'); // below the threshold again
  });

  it('skips a busy instance for one that is not', async () => {
    const { router, client, instances } = await make(2, { busyThreshold: 1, mode: 'round-robin' });
    const slow = hang();
    client.scripts.set(instances[0]?.address as string, slow);
    const held = router.request(PATH, 0);
    await vi.waitFor(() => expect(slow.waiting, 'the call held by instance 1').toBe(1), { interval: 1 });
    for (let i = 0; i < 5; i++) expect(await router.request(PATH, i)).toBe(instances[1]?.address);
    slow.release('x');
    await held;
  });
});

describe('router lifecycle and options', () => {
  it('validates its options, naming the field', async () => {
    const { discovery } = await fakeRouter(0);
    const { createRouter } = await import('../../src/routing/router.js');
    expect(() => createRouter({ discovery, mode: 'sticky' as never })).toThrow(/mode/);
    expect(() => createRouter({ discovery, maxTries: 0 })).toThrow(/maxTries/);
    expect(() => createRouter({ discovery, busyThreshold: -1 })).toThrow(/busyThreshold/);
    expect(() => createRouter({ discovery, now: 5 as never })).toThrow(/now/);
    expect(() => createRouter({ discovery: {} as never })).toThrow(/discovery/);
    expect(() => createRouter({ discovery, retries: 2 } as never)).toThrow(/retries/);
  });

  it('refuses bad paths with WARDEN_INVALID_NAME', async () => {
    const { router } = await make(1);
    await expect(router.request({ ...PATH, endpoint: 'Bad!' }, 0)).rejects.toMatchObject({
      code: 'WARDEN_INVALID_NAME',
      message: expect.stringContaining('endpoint'),
    });
    await expect(router.request({ ...PATH, instanceId: 'xyz' }, 0)).rejects.toMatchObject({
      code: 'WARDEN_INVALID_NAME',
    });
  });

  it('close() stops its watches and refuses later calls', async () => {
    const { router, discovery } = await make(1);
    await router.request(PATH, 0);
    const watchers = (discovery as unknown as { watchers: Set<unknown> }).watchers;
    expect(watchers.size).toBe(1);
    await router.close();
    expect(watchers.size).toBe(0);
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_CLIENT_CLOSED' });
  });
});
