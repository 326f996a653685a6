import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, outcome, setup } from './fixture.js';

let f: Fixture;
let nc: NatsConnection;
beforeAll(async () => {
  f = await setup({
    service: { name: 'shop', version: '1.2.3', description: 'the shop', metadata: { team: 'a' } },
  });
  nc = await connect({ servers: f.nats.url });
});
afterAll(async () => {
  await nc?.close();
  await f?.close();
});

interface StatsEndpoint {
  name: string;
  subject: string;
  queue_group: string;
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
  average_processing_time: number;
}

async function ask<T>(subject: string): Promise<T> {
  const msg = await nc.request(subject, '', { timeout: 2000 });
  return msg.json<T>();
}

describe('NATS micro protocol ($SRV)', () => {
  it('answers PING in all three subject forms', async () => {
    const id = f.server.serverId;
    const expected = { type: 'io.nats.micro.v1.ping_response', name: 'shop', id, version: '1.2.3' };
    expect(await ask('$SRV.PING')).toMatchObject(expected);
    expect(await ask('$SRV.PING.shop')).toMatchObject(expected);
    expect(await ask(`$SRV.PING.shop.${id}`)).toMatchObject({ ...expected, metadata: { team: 'a' } });
    // Another name or id: nobody answers.
    await expect(nc.request('$SRV.PING.other', '', { timeout: 1000 })).rejects.toThrow(/no responders/i);
    await expect(nc.request('$SRV.PING.shop.0000000000000000', '', { timeout: 1000 })).rejects.toThrow(
      /no responders/i,
    );
  });

  it('answers INFO with every endpoint, its subject and queue group', async () => {
    const t = await f.register('lookup', async () => 'x');
    const info = await ask<{
      type: string;
      description: string;
      endpoints: Array<{
        name: string;
        subject: string;
        queue_group: string;
        metadata: Record<string, string>;
      }>;
    }>(`$SRV.INFO.shop.${f.server.serverId}`);
    expect(info.type).toBe('io.nats.micro.v1.info_response');
    expect(info.description).toBe('the shop');
    expect(info.endpoints).toContainEqual({
      name: 'lookup',
      subject: 'warden.test.svc.lookup',
      queue_group: 'warden',
      metadata: expect.objectContaining({
        path: 'test/svc/lookup',
        instance_id: t.instanceId,
        direct_subject: `warden.test.svc.lookup.${t.instanceId}`,
      }),
    });
  });

  it('answers STATS with per-endpoint request and error counts and processing times', async () => {
    const ok = await f.register('counted', async () => {
      await new Promise((r) => setTimeout(r, 5));
      return 'fine';
    });
    const bad = await f.register('failing', async () => {
      throw new Error('nope');
    });
    for (let i = 0; i < 3; i++) expect(await f.client.request(ok, null, { timeoutMs: 2000 })).toBe('fine');
    expect(await outcome(f.client.request(bad, null, { timeoutMs: 2000 }))).toBe('WARDEN_HANDLER_ERROR');
    expect(await outcome(f.client.request(bad, null, { timeoutMs: 2000 }))).toBe('WARDEN_HANDLER_ERROR');
    const stats = await ask<{ type: string; started: string; endpoints: StatsEndpoint[] }>('$SRV.STATS.shop');
    expect(stats.type).toBe('io.nats.micro.v1.stats_response');
    expect(Number.isNaN(Date.parse(stats.started))).toBe(false);
    const counted = stats.endpoints.find((e) => e.name === 'counted');
    const failing = stats.endpoints.find((e) => e.name === 'failing');
    expect(counted).toMatchObject({
      subject: 'warden.test.svc.counted',
      queue_group: 'warden',
      num_requests: 3,
      num_errors: 0,
      last_error: '',
    });
    // Nanoseconds: three calls of at least ~5 ms each.
    expect(counted?.processing_time).toBeGreaterThan(3 * 4e6);
    expect(counted?.average_processing_time).toBe(Math.round((counted?.processing_time ?? 0) / 3));
    expect(failing).toMatchObject({
      num_requests: 2,
      num_errors: 2,
      last_error: 'WARDEN_HANDLER_ERROR: nope',
    });
  });
});
