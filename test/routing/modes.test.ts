import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Router } from '../../src/routing/router.js';
import { seededRandom } from '../../src/testing/random.js';
import { hang, reply } from './fake-client.js';
import { fakeRouter, instance, PATH } from './helpers.js';

const routers: Router[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

async function make(n: number, options: Parameters<typeof fakeRouter>[1] = {}) {
  const made = await fakeRouter(n, options);
  routers.push(made.router);
  return made;
}

describe('router modes', () => {
  it('round-robin takes the instances in turn, exactly', async () => {
    const { router, client, instances } = await make(3, { mode: 'round-robin' });
    const got: unknown[] = [];
    for (let i = 0; i < 300; i++) got.push(await router.request(PATH, i));
    const order = instances.map((r) => r.address);
    expect(got.slice(0, 6)).toEqual([...order, ...order]);
    expect(client.counts()).toEqual(Object.fromEntries(order.map((a) => [a, 100])));
  });

  it('round-robin stays exact under concurrent calls', async () => {
    const { router, client } = await make(3, { mode: 'round-robin' });
    await Promise.all(Array.from({ length: 90 }, (_, i) => router.request(PATH, i)));
    expect(Object.values(client.counts())).toEqual([30, 30, 30]);
  });

  it('random spreads within bounds, and the same seed picks the same sequence', async () => {
    const a = await make(3, { mode: 'random', random: seededRandom(42) });
    for (let i = 0; i < 3000; i++) await a.router.request(PATH, i);
    for (const count of Object.values(a.client.counts())) {
      expect(count).toBeGreaterThan(900);
      expect(count).toBeLessThan(1100);
    }
    const b = await make(3, { mode: 'random', random: seededRandom(42) });
    for (let i = 0; i < 3000; i++) await b.router.request(PATH, i);
    expect(b.client.calls).toEqual(a.client.calls);
    expect(new Set(a.client.calls.slice(0, 20)).size).toBe(3); // not one instance in a row
  });

  it('least-inflight prefers the idle instance', async () => {
    const { router, client, instances } = await make(2, { mode: 'least-inflight' });
    const slow = hang();
    const [busy, idle] = instances as [(typeof instances)[0], (typeof instances)[0]];
    client.scripts.set(busy.address, slow);
    // Both idle: the first two calls take one each; the one on `busy` stays in flight.
    const first = [router.request(PATH, 1), router.request(PATH, 2)];
    await vi.waitFor(() => expect(slow.waiting, 'one call held by the busy instance').toBe(1), {
      interval: 1,
    });
    for (let i = 0; i < 20; i++) expect(await router.request(PATH, i)).toBe(idle.address);
    slow.release('late');
    expect((await Promise.all(first)).sort()).toEqual([idle.address, 'late'].sort());
    // Idle again: ties are shared in turn.
    client.scripts.set(busy.address, reply(busy.address));
    const after = new Set<unknown>();
    for (let i = 0; i < 4; i++) after.add(await router.request(PATH, i));
    expect(after).toEqual(new Set([busy.address, idle.address]));
  });

  it('direct hits only its target and never fails over', async () => {
    const { router, client, instances } = await make(3, { mode: 'direct' });
    const target = instances[1];
    for (let i = 0; i < 30; i++) {
      expect(await router.request({ ...PATH, instanceId: target?.instanceId as string }, i)).toBe(
        target?.address,
      );
    }
    expect(client.counts()).toEqual({ [target?.address as string]: 30 });
    client.scripts.delete(target?.address as string); // now it is unreachable
    await expect(
      router.request({ ...PATH, instanceId: target?.instanceId as string }, 0),
    ).rejects.toMatchObject({
      code: 'WARDEN_CONNECTION_FAILED',
    });
    expect(client.calls.length).toBe(31);
    await expect(router.request({ ...PATH, instanceId: instance(9).instanceId }, 0)).rejects.toMatchObject({
      code: 'WARDEN_NO_INSTANCES',
      message: expect.stringContaining(instance(9).instanceId),
    });
    await expect(router.request(PATH, 0)).rejects.toMatchObject({ code: 'WARDEN_INVALID_OPTIONS' });
  });

  it('an instanceId in another mode pins the call to that instance', async () => {
    const { router, client, instances } = await make(3, { mode: 'round-robin' });
    const target = instances[2]?.instanceId as string;
    for (let i = 0; i < 5; i++) await router.request({ ...PATH, instanceId: target }, i);
    expect(client.counts()).toEqual({ [instances[2]?.address as string]: 5 });
  });

  it('follows discovery: a new instance is picked, a removed one no longer', async () => {
    const { router, client, discovery, instances } = await make(1);
    expect(await router.request(PATH, 0)).toBe(instances[0]?.address);
    const second = instance(2);
    client.scripts.set(second.address, reply(second.address));
    await discovery.register(second);
    const ids = async (): Promise<string[]> => (await router.instances(PATH)).map((r) => r.instanceId);
    await vi.waitFor(async () => expect(await ids()).toContain(second.instanceId), { interval: 1 });
    const seen = new Set<unknown>();
    for (let i = 0; i < 4; i++) seen.add(await router.request(PATH, i));
    expect(seen).toEqual(new Set([instances[0]?.address, second.address]));
    await discovery.unregister(instances[0]?.instanceId as string);
    await vi.waitFor(async () => expect(await ids()).toEqual([second.instanceId]), { interval: 1 });
    for (let i = 0; i < 4; i++) expect(await router.request(PATH, i)).toBe(second.address);
  });
});
