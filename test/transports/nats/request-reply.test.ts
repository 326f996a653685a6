import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WardenError } from '../../../src/core/errors.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import { createNatsClient } from '../../../src/transports/nats/index.js';
import { type Fixture, outcome, setup } from './fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await setup();
});
afterAll(async () => {
  await f?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NATS request/reply', () => {
  it('answers a unary call on any instance and on its own instance', async () => {
    const t = await f.register('echo', async (body, ctx) => ({ echo: body, instanceId: ctx.instanceId }));
    const any = { ...t };
    delete (any as { instanceId?: string }).instanceId;
    expect(await f.client.request(any, { a: 1 }, { timeoutMs: 2000 })).toEqual({
      echo: { a: 1 },
      instanceId: t.instanceId,
    });
    expect(await f.client.request(t, 'direct', { timeoutMs: 2000 })).toEqual({
      echo: 'direct',
      instanceId: t.instanceId,
    });
    expect(f.server.address()).toBe(f.nats.url);
    expect(f.server.transportName).toBe('nats');
    expect(f.server.isHealthy()).toBe(true);
  });

  it('passes headers, the request id and the deadline to the handler', async () => {
    const t = await f.register('ctx', async (_body, ctx) => ({
      headers: ctx.headers,
      hasId: ctx.requestId.length > 0,
      deadlineLeft: ctx.deadline === undefined ? null : ctx.deadline - Date.now(),
    }));
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = (await f.client.request(t, null, {
      timeoutMs: 3000,
      headers: { traceparent, 'x-user': 'ada' },
    })) as { headers: Record<string, string>; hasId: boolean; deadlineLeft: number };
    expect(res.headers).toEqual({ traceparent, 'x-user': 'ada' });
    expect(res.hasId).toBe(true);
    expect(res.deadlineLeft).toBeGreaterThan(2000);
    expect(res.deadlineLeft).toBeLessThanOrEqual(3000);
    await expect(f.client.request(t, null, { headers: { 'warden-type': 'x' } })).rejects.toMatchObject({
      code: 'WARDEN_INVALID_OPTIONS',
    });
  });

  it('streams 1,000 chunks complete and in order', async () => {
    const t = await f.register('count', async function* (body) {
      const n = body as number;
      for (let i = 0; i < n; i++) yield i;
    });
    const got: unknown[] = [];
    for await (const chunk of f.client.call(t, 1000, { timeoutMs: 10_000 })) got.push(chunk);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // A stream that yields nothing ends cleanly.
    expect(await f.client.request(t, 0, { timeoutMs: 2000 })).toBeUndefined();
  });

  it('serves 100 concurrent calls, each with its own answer', async () => {
    const t = await f.register('slow-echo', async (body) => {
      await sleep(Math.random() * 20);
      return body;
    });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => f.client.request(t, { i }, { timeoutMs: 5000 })),
    );
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
  });

  it('carries raw bytes both ways', async () => {
    const t = await f.register('bytes', async (body) => {
      const bytes = body as Uint8Array;
      return Uint8Array.from(bytes, (b) => b ^ 0xff);
    });
    const res = (await f.client.request(t, new Uint8Array([1, 2, 3]), { timeoutMs: 2000 })) as Uint8Array;
    expect(res).toBeInstanceOf(Uint8Array);
    expect([...res]).toEqual([254, 253, 252]);
  });

  it('splits a chunk larger than max_payload and joins it again', async () => {
    const t = await f.register('big', async () => 'x'.repeat(3 * 1024 * 1024));
    const res = (await f.client.request(t, null, { timeoutMs: 10_000 })) as string;
    expect(res.length).toBe(3 * 1024 * 1024);
    const raw = await f.register('big-raw', async () => new Uint8Array(2_500_000).fill(7));
    const bytes = (await f.client.request(raw, null, { timeoutMs: 10_000 })) as Uint8Array;
    expect(bytes.length).toBe(2_500_000);
    expect(bytes.every((b) => b === 7)).toBe(true);
  });

  it('refuses a chunk over maxMessageBytes and a request over max_payload, with clear errors', async () => {
    const small = await setup({ maxMessageBytes: 1000 });
    try {
      const t = await small.register('huge', async () => 'y'.repeat(5000));
      const err = await small.client.request(t, null, { timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WardenError);
      expect(err).toMatchObject({ code: 'WARDEN_MESSAGE_TOO_LARGE' });
      expect((err as Error).message).toMatch(/maxMessageBytes \(1000\)/);
      const big = new Uint8Array(2 * 1024 * 1024);
      const tooBig = await small.client.request(t, big, { timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ code: 'WARDEN_MESSAGE_TOO_LARGE' });
      expect((tooBig as Error).message).toMatch(/max_payload/);
      // Nothing else was disturbed.
      const ok = await small.register('ok', async () => 'fine');
      expect(await small.client.request(ok, null, { timeoutMs: 2000 })).toBe('fine');
    } finally {
      await small.close();
    }
  });

  it('cancels: the handler signal aborts and the call ends with WARDEN_CANCELLED', async () => {
    let aborted!: () => void;
    const abortedP = new Promise<void>((r) => {
      aborted = r;
    });
    const started: string[] = [];
    const t = await f.register('forever', async (_body, ctx) => {
      started.push(ctx.requestId);
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          aborted();
          resolve();
        });
      });
      return 'never seen';
    });
    const controller = new AbortController();
    const p = f.client.request(t, null, { signal: controller.signal, timeoutMs: 10_000 });
    while (started.length === 0) await sleep(5);
    controller.abort();
    await expect(p).rejects.toMatchObject({ code: 'WARDEN_CANCELLED' });
    await abortedP; // the broadcast cancel reached the server
    expect(f.server.inflight).toBe(0);
  });

  it('cancels a stream by breaking out of the loop: the handler stops', async () => {
    let finalized = false;
    const t = await f.register('ticks', async function* (_b, ctx) {
      try {
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield i;
          await sleep(2);
        }
      } finally {
        finalized = true;
      }
    });
    const got: unknown[] = [];
    for await (const chunk of f.client.call(t, null, { timeoutMs: 10_000 })) {
      got.push(chunk);
      if (got.length === 5) break;
    }
    expect(got).toEqual([0, 1, 2, 3, 4]);
    for (let i = 0; i < 100 && !finalized; i++) await sleep(10);
    expect(finalized).toBe(true);
    expect(f.server.inflight).toBe(0);
  });

  it('ends with WARDEN_DEADLINE_EXCEEDED at the deadline, and the handler is aborted too', async () => {
    let handlerAborted = false;
    const t = await f.register('stuck', async (_b, ctx) => {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          handlerAborted = true;
          resolve();
        }),
      );
      return null;
    });
    const started = Date.now();
    await expect(f.client.request(t, null, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'WARDEN_DEADLINE_EXCEEDED',
    });
    expect(Date.now() - started).toBeLessThan(3000);
    for (let i = 0; i < 100 && !handlerAborted; i++) await sleep(10);
    expect(handlerAborted).toBe(true);
  });

  it('sends a handler error as WARDEN_HANDLER_ERROR with its message, a WardenError with its code', async () => {
    const t = await f.register('boom', async (body) => {
      if (body === 'warden') throw new WardenError('WARDEN_OVERLOADED', 'busy, try later');
      throw new Error('kaboom');
    });
    const err = await f.client.request(t, null, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WARDEN_HANDLER_ERROR', message: 'kaboom' });
    expect((err as Error).message).not.toMatch(/at .*\.ts/);
    await expect(f.client.request(t, 'warden', { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'WARDEN_OVERLOADED',
      message: 'busy, try later',
    });
    // A stream that fails after some chunks delivers them, then the error.
    const s = await f.register('half', async function* () {
      yield 1;
      yield 2;
      throw new Error('mid-stream');
    });
    const got: unknown[] = [];
    const e2 = await (async () => {
      for await (const c of f.client.call(s, null, { timeoutMs: 2000 })) got.push(c);
    })().catch((e: unknown) => e);
    expect(got).toEqual([1, 2]);
    expect(e2).toMatchObject({ code: 'WARDEN_HANDLER_ERROR', message: 'mid-stream' });
  });

  it('refuses an invalid body with WARDEN_INVALID_REQUEST and the zod message', async () => {
    const t = await f.register('typed', async (body) => body, {
      schema: z.object({ n: z.number().int() }),
    });
    const err = await f.client.request(t, { n: 'x' }, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WARDEN_INVALID_REQUEST' });
    expect((err as Error).message).toMatch(/n: .*number/i);
    expect(await f.client.request(t, { n: 3 }, { timeoutMs: 2000 })).toEqual({ n: 3 });
  });

  it('answers WARDEN_NO_RESPONDERS for an unknown endpoint and an unknown instance', async () => {
    const base = { address: f.server.address(), namespace: 'test', component: 'svc' };
    await expect(
      f.client.request({ ...base, endpoint: 'nobody' }, null, { timeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'WARDEN_NO_RESPONDERS' });
    const t = await f.register('known', async () => 'ok');
    await expect(
      f.client.request({ ...t, instanceId: newInstanceId() }, null, { timeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'WARDEN_NO_RESPONDERS' });
    await expect(
      f.client.request({ ...base, endpoint: 'Bad.Name' }, null, { timeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'WARDEN_INVALID_NAME' });
  });

  it('refuses a duplicate registration and keeps serving the first', async () => {
    const t = await f.register('dup', async () => 'first');
    await expect(f.register('dup', async () => 'second')).rejects.toMatchObject({
      code: 'WARDEN_ENDPOINT_EXISTS',
    });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => f.client.request(t, null, { timeoutMs: 2000 })),
    );
    expect(new Set(answers)).toEqual(new Set(['first']));
  });

  it('answers WARDEN_OVERLOADED beyond maxInFlight without disturbing calls in flight', async () => {
    const small = await setup({ maxInFlight: 2 });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const t = await small.register('gate', async () => {
        await gate;
        return 'done';
      });
      const first = [
        small.client.request(t, 1, { timeoutMs: 5000 }),
        small.client.request(t, 2, { timeoutMs: 5000 }),
      ];
      while (small.server.inflight < 2) await sleep(5);
      await expect(small.client.request(t, 3, { timeoutMs: 5000 })).rejects.toMatchObject({
        code: 'WARDEN_OVERLOADED',
      });
      release();
      expect(await Promise.all(first)).toEqual(['done', 'done']);
    } finally {
      await small.close();
    }
  });

  it('pauses a streaming handler while the reader falls behind (acks pace the stream)', async () => {
    let produced = 0;
    const t = await f.register('firehose', async function* () {
      for (let i = 0; i < 5000; i++) {
        produced++;
        yield i;
      }
    });
    const iterator = f.client.call(t, null, { timeoutMs: 10_000 })[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toBe(0);
    await sleep(300);
    // Window (256) + the client's high-water mark and ack granularity: far below 5000.
    expect(produced).toBeLessThan(700);
    let count = 1;
    let last = 0;
    for (;;) {
      const step = await iterator.next();
      if (step.done) break;
      last = step.value as number;
      count++;
    }
    expect(count).toBe(5000);
    expect(last).toBe(4999);
  });

  it('refuses calls after close() with WARDEN_CLIENT_CLOSED', async () => {
    const t = await f.register('after-close', async () => 'ok');
    const client = createNatsClient({ servers: f.nats.url });
    expect(await client.request(t, null, { timeoutMs: 2000 })).toBe('ok');
    await client.close();
    expect(await outcome(client.request(t, null, { timeoutMs: 2000 }))).toBe('WARDEN_CLIENT_CLOSED');
  });

  it('dials target.address when given neither servers nor a connection', async () => {
    const t = await f.register('by-address', async () => 'reached');
    const client = createNatsClient();
    try {
      expect(await client.request(t, null, { timeoutMs: 2000 })).toBe('reached');
    } finally {
      await client.close();
    }
    const nowhere = createNatsClient();
    try {
      const err = await nowhere
        .request({ ...t, address: 'nats://127.0.0.1:1' }, null, { timeoutMs: 2000 })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'WARDEN_CONNECTION_FAILED' });
    } finally {
      await nowhere.close();
    }
  });
});
