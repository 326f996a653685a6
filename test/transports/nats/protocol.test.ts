import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, outcome, setup } from './fixture.js';

let f: Fixture;
let nc: NatsConnection;
beforeAll(async () => {
  f = await setup();
  nc = await connect({ servers: f.nats.url });
});
afterAll(async () => {
  await nc?.close();
  await f?.close();
});

const target = (endpoint: string) => ({
  address: f.nats.url,
  namespace: 'fake',
  component: 'svc',
  endpoint,
});

/** A hand-written responder on `warden.fake.svc.{endpoint}` that answers with the given messages. */
async function fake(endpoint: string, answer: Array<{ type?: string; seq?: number; body: string }>) {
  const sub = nc.subscribe(`warden.fake.svc.${endpoint}`, {
    queue: 'warden',
    callback: (_e, m) => {
      for (const a of answer) {
        const h = headers();
        if (a.type) h.set('Warden-Type', a.type);
        if (a.seq !== undefined) h.set('Warden-Seq', String(a.seq));
        nc.publish(m.reply as string, a.body, { headers: h });
      }
    },
  });
  await nc.flush();
  return sub;
}

describe('NATS wire protocol', () => {
  it('a client reads a hand-written response: chunks, then end', async () => {
    const sub = await fake('manual', [
      { type: 'chunk', seq: 0, body: '"a"' },
      { type: 'chunk', seq: 1, body: '{"b":2}' },
      { type: 'end', seq: 2, body: '' },
    ]);
    expect(await f.client.request(target('manual'), null, { timeoutMs: 2000 })).toEqual(['a', { b: 2 }]);
    sub.unsubscribe();
  });

  it('a client detects a lost or reordered message by its sequence number', async () => {
    const sub = await fake('gap', [
      { type: 'chunk', seq: 0, body: '1' },
      { type: 'chunk', seq: 2, body: '3' },
      { type: 'end', seq: 3, body: '' },
    ]);
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const c of f.client.call(target('gap'), null, { timeoutMs: 2000 })) got.push(c);
    })().catch((e: unknown) => e);
    expect(got).toEqual([1]);
    expect(err).toMatchObject({ code: 'WARDEN_PROTOCOL_ERROR' });
    expect((err as Error).message).toMatch(/lost or reordered \(expected #1, got #2\)/);
    sub.unsubscribe();
  });

  it('a client refuses a response that is not warden framing', async () => {
    const sub = await fake('plain', [{ body: 'hello' }]);
    const err = await f.client.request(target('plain'), null, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WARDEN_PROTOCOL_ERROR' });
    expect((err as Error).message).toMatch(/without warden headers/);
    sub.unsubscribe();
  });

  it('a client maps an error message to a WardenError with the code', async () => {
    const sub = await fake('err', [
      { type: 'error', seq: 0, body: JSON.stringify({ code: 'WARDEN_OVERLOADED', message: 'full' }) },
    ]);
    await expect(f.client.request(target('err'), null, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'WARDEN_OVERLOADED',
      message: 'full',
    });
    sub.unsubscribe();
  });

  it('a plain NATS request reaches a unary endpoint and gets one `last` message', async () => {
    const t = await f.register('plain-req', async (body) => ({ got: body }));
    const reply = await nc.request('warden.test.svc.plain-req', JSON.stringify({ x: 1 }), { timeout: 2000 });
    expect(reply.headers?.get('Warden-Type')).toBe('last');
    expect(reply.headers?.get('Warden-Seq')).toBe('0');
    expect(reply.json()).toEqual({ got: { x: 1 } });
    // Bad JSON from a foreign caller is a protocol error, answered as an `error` message.
    const bad = await nc.request('warden.test.svc.plain-req', '{nope', { timeout: 2000 });
    expect(bad.headers?.get('Warden-Type')).toBe('error');
    expect(bad.json<{ code: string }>().code).toBe('WARDEN_PROTOCOL_ERROR');
    expect(await outcome(f.client.request(t, 'still fine', { timeoutMs: 2000 }))).toBe('ok');
  });

  it('stops a handler whose caller went away (NATS reports no responders on the control subject)', async () => {
    let aborted = false;
    let sent = 0;
    const t = await f.register('orphan', async function* (_b, ctx) {
      ctx.signal.addEventListener('abort', () => {
        aborted = true;
      });
      while (!ctx.signal.aborted) {
        sent++;
        yield sent;
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    // A raw caller with a throw-away inbox that it drops after the first message.
    const inbox = `orphan.${Date.now()}`;
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => {
      first = r;
    });
    const sub = nc.subscribe(inbox, {
      callback: () => {
        sub.unsubscribe();
        first();
      },
    });
    nc.publish(`warden.test.svc.orphan.${t.instanceId}`, '', { reply: inbox });
    await gotFirst;
    for (let i = 0; i < 100 && !aborted; i++) await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toBe(true);
    expect(f.server.inflight).toBe(0);
  });
});
