import { connect, createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
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

/** A hand-written compact responder on `warden.fake.svc.{endpoint}` that answers with the given payloads. */
async function fakeCompact(endpoint: string, answer: Uint8Array[]) {
  const sub = nc.subscribe(`warden.fake.svc.${endpoint}`, {
    queue: 'warden',
    callback: (_e, m) => {
      for (const a of answer) nc.publish(m.reply as string, a);
    },
  });
  await nc.flush();
  return sub;
}

const bytes = (...parts: Array<number | string>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.of(p) : Buffer.from(p))));

/** One request/reply from a raw caller: the reply message. */
function rawRequest(subject: string, data: Uint8Array, opts: { headers?: ReturnType<typeof headers> } = {}) {
  return new Promise<Msg>((resolve) => {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox, {
      max: 1,
      callback: (_e, m) => {
        sub.unsubscribe();
        resolve(m);
      },
    });
    nc.publish(subject, data, { reply: inbox, ...opts });
  });
}

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

  it('a client reads a hand-written compact response: a batch, a raw chunk, then end', async () => {
    const sub = await fakeCompact('compact', [
      // batch at 0: "a" (JSON, 3 bytes), 02 ff (raw, 2 bytes), {"b":2} (JSON, 7 bytes)
      bytes('b', 0, 6, '"a"', 5, 0x02, 0xff, 14, '{"b":2}'),
      bytes('C', 3, 0x07),
      bytes('e', 4),
    ]);
    const got = (await f.client.request(target('compact'), null, { timeoutMs: 2000 })) as unknown[];
    expect(got.map((c) => (c instanceof Uint8Array ? [...c] : c))).toEqual(['a', [2, 255], { b: 2 }, [7]]);
    sub.unsubscribe();
    const unary = await fakeCompact('compact-last', [bytes('l', 0, '{"ok":true}')]);
    expect(await f.client.request(target('compact-last'), null, { timeoutMs: 2000 })).toEqual({ ok: true });
    unary.unsubscribe();
  });

  it('a server answers a compact request compactly and a header request with headers', async () => {
    const t = await f.register('framing', async (body, ctx) =>
      body instanceof Uint8Array
        ? Uint8Array.from(body, (b) => b + 1)
        : { id: ctx.requestId, deadline: ctx.deadline !== undefined },
    );
    const subject = `warden.test.svc.framing.${t.instanceId}`;
    // Compact: 01, flags 03 (raw, a timeout follows), 2000 ms = d0 0f, body 01 02.
    const compact = await rawRequest(subject, bytes(1, 3, 0xd0, 0x0f, 1, 2));
    expect(compact.headers).toBeUndefined();
    expect([...compact.data]).toEqual([0x4c, 0, 2, 3]); // L, seq 0, the bytes + 1
    // Compact JSON without an id: the request id is the reply subject.
    const json = await rawRequest(subject, bytes(1, 0, 'null'));
    const reply = JSON.parse(Buffer.from(json.data.subarray(2)).toString()) as {
      id: string;
      deadline: boolean;
    };
    expect(json.data[0]).toBe(0x6c); // l
    expect(reply.id).toMatch(/^_INBOX\./);
    expect(reply.deadline).toBe(false);
    // Header framing, with an id of its own.
    const h = headers();
    h.set('Warden-Request-Id', 'req-42');
    h.set('Warden-Timeout-Ms', '2000');
    const framed = await rawRequest(subject, new TextEncoder().encode('null'), { headers: h });
    expect(framed.headers?.get('Warden-Type')).toBe('last');
    expect(framed.json()).toEqual({ id: 'req-42', deadline: true });
    // Unknown compact flags: a protocol error, in the compact framing.
    const bad = await rawRequest(subject, bytes(1, 0x40));
    expect(String.fromCharCode(bad.data[0] as number)).toBe('x');
    expect(JSON.parse(Buffer.from(bad.data.subarray(2)).toString())).toMatchObject({
      code: 'WARDEN_PROTOCOL_ERROR',
    });
  });

  it('coalesces a fast stream into batches, and keeps a slow stream chunk by chunk', async () => {
    const fast = await f.register('fast', async function* () {
      for (let i = 0; i < 1000; i++) yield i;
    });
    const slow = await f.register('slow', async function* () {
      for (let i = 0; i < 3; i++) {
        yield i;
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    const seen: Msg[] = [];
    const spy = nc.subscribe('_INBOX.>', {
      callback: (_e, m) => {
        seen.push(m);
      },
    });
    await nc.flush();
    const got: unknown[] = [];
    for await (const c of f.client.call(fast, null, { timeoutMs: 5000 })) got.push(c);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    await nc.flush();
    const batches = seen.filter((m) => m.data[0] === 0x62).length;
    expect(batches).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(50); // one message per chunk would be 1,001
    seen.length = 0;
    expect(await f.client.request(slow, null, { timeoutMs: 5000 })).toEqual([0, 1, 2]);
    await nc.flush();
    expect(seen.map((m) => String.fromCharCode(m.data[0] as number))).toEqual(['c', 'c', 'c', 'e']);
    spy.unsubscribe();
  });

  it('sends large raw bodies in the header framing, small ones compact; raw chunks are copies', async () => {
    const t = await f.register('sizes', async (body) => body);
    const seen: Msg[] = [];
    const spy = nc.subscribe('warden.test.svc.sizes.*', {
      callback: (_e, m) => {
        seen.push(m);
      },
    });
    await nc.flush();
    const small = (await f.client.request(t, new Uint8Array(100).fill(3), { timeoutMs: 2000 })) as Uint8Array;
    const large = (await f.client.request(t, new Uint8Array(10_000).fill(4), {
      timeoutMs: 2000,
    })) as Uint8Array;
    expect([small.length, small[99], large.length, large[9999]]).toEqual([100, 3, 10_000, 4]);
    // Copies of their own, not views that would pin a socket buffer.
    expect(small.buffer.byteLength).toBe(100);
    expect(large.buffer.byteLength).toBe(10_000);
    await nc.flush();
    expect(seen.map((m) => m.headers !== undefined)).toEqual([false, true]);
    expect(seen[1]?.headers?.get('Warden-Body')).toBe('raw');
    spy.unsubscribe();
  });

  it('a client refuses a response that is not warden framing', async () => {
    const sub = await fake('plain', [{ body: 'hello' }]);
    const err = await f.client.request(target('plain'), null, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WARDEN_PROTOCOL_ERROR' });
    expect((err as Error).message).toMatch(/without warden framing/);
    // Nor a header-less payload that is not compact framing.
    const bare = await fakeCompact('plain-compact', [new TextEncoder().encode('hello')]);
    const err2 = await f.client
      .request(target('plain-compact'), null, { timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/without warden framing/);
    bare.unsubscribe();
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
