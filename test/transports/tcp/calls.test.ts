/**
 * Calls through the TCP client to the TCP server: unary and streamed responses, concurrency on one
 * connection, cancel, deadline, handler errors, schema validation, size limits, routing errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WardenError } from '../../../src/core/errors.js';
import type { CallTarget, RequestContext } from '../../../src/core/request-plane.js';
import { createTcpClient, type TcpClient } from '../../../src/transports/tcp/client.js';
import { encodeRequest, UNLIMITED_WINDOW } from '../../../src/transports/tcp/codec.js';
import { createTcpServer, type TcpServer } from '../../../src/transports/tcp/server.js';
import { COMP, failure, NS, startServer, until } from './helpers.js';

let server: TcpServer;
let instanceId: string;
let target: (endpoint: string) => CallTarget;
let client: TcpClient;
let lastCtx: RequestContext | undefined;
const aborted: string[] = [];
/** The context of the last call (a function, so TypeScript does not narrow it across awaits). */
const current = (): RequestContext | undefined => lastCtx;

function watch(ctx: RequestContext): void {
  lastCtx = ctx;
  ctx.signal.addEventListener('abort', () => aborted.push(ctx.requestId), { once: true });
}

beforeAll(async () => {
  const env = await startServer({
    echo: async (body, ctx) => {
      lastCtx = ctx;
      return body;
    },
    context: async (_b, ctx) => ({
      requestId: ctx.requestId,
      headers: ctx.headers,
      deadline: ctx.deadline ?? null,
      instanceId: ctx.instanceId,
    }),
    count: async function* (body) {
      const n = (body as { n: number }).n;
      for (let i = 0; i < n; i++) yield { i };
    },
    hang: (_b, ctx) => {
      watch(ctx);
      return new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      );
    },
    ticks: async function* (_b, ctx) {
      watch(ctx);
      for (let i = 0; ; i++) {
        yield i;
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    boom: async () => {
      throw new Error('the handler broke');
    },
    coded: async () => {
      throw new WardenError('WARDEN_OVERLOADED', 'try later');
    },
    streamboom: async function* () {
      yield 1;
      throw new Error('broke mid-stream');
    },
    big: async (body) => new Uint8Array(body as number),
    unencodable: async () => ({ n: 1n }),
    nothing: async () => undefined,
  });
  server = env.server;
  instanceId = env.instanceId;
  target = env.target;
  await server.registerEndpoint({
    namespace: NS,
    component: COMP,
    endpoint: 'typed',
    instanceId,
    health: env.health,
    schema: z.object({ n: z.number().int() }),
    handler: async (body) => (body as { n: number }).n * 2,
  });
  client = createTcpClient();
});

afterAll(async () => {
  await client.close();
  await server.stop({ drainMs: 0 });
});

describe('tcp calls: responses', () => {
  it('echoes a JSON body', async () => {
    expect(await client.request(target('echo'), { hello: 'wörld', list: [1, 2, 3] })).toEqual({
      hello: 'wörld',
      list: [1, 2, 3],
    });
    expect(await client.request(target('echo'), null)).toBeNull();
    expect(await client.request(target('nothing'), 1)).toBeNull();
  });

  it('echoes raw bytes as raw bytes', async () => {
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    const back = await client.request(target('echo'), bytes);
    expect(back).toBeInstanceOf(Uint8Array);
    expect([...(back as Uint8Array)]).toEqual([...bytes]);
  });

  it('passes request id, headers (traceparent), deadline and instance id to the handler', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const before = Date.now();
    const seen = (await client.request(target('context'), null, {
      headers: { traceparent, 'X-Tenant': 'acme' },
      timeoutMs: 60_000,
    })) as { requestId: string; headers: Record<string, string>; deadline: number; instanceId: string };
    expect(seen.headers).toEqual({ traceparent, 'x-tenant': 'acme' });
    expect(seen.requestId).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(seen.deadline).toBeGreaterThanOrEqual(before + 60_000);
    expect(seen.deadline).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(seen.instanceId).toBe(instanceId);
    const none = (await client.request(target('context'), null)) as {
      deadline: number | null;
      headers: object;
    };
    expect(none.deadline).toBeNull();
    expect(none.headers).toEqual({});
  });

  it('streams 1,000 chunks in order', async () => {
    const got: number[] = [];
    for await (const chunk of client.call(target('count'), { n: 1000 })) got.push((chunk as { i: number }).i);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('serves 100 concurrent calls over one connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        i % 2 === 0 ? client.request(target('echo'), { i }) : client.request(target('count'), { n: 3 }),
      ),
    );
    results.forEach((r, i) => {
      expect(r).toEqual(i % 2 === 0 ? { i } : [{ i: 0 }, { i: 1 }, { i: 2 }]);
    });
    expect(client.connectionCount).toBe(1);
    expect(server.connectionCount).toBe(1);
  });
});

describe('tcp calls: cancel and deadline', () => {
  it('cancels through the signal: the handler aborts, the caller gets WARDEN_CANCELLED', async () => {
    const controller = new AbortController();
    lastCtx = undefined;
    const pending = client.request(target('hang'), null, { signal: controller.signal });
    await until(() => lastCtx !== undefined);
    const id = current()?.requestId as string;
    controller.abort();
    const err = await failure(pending);
    expect(err.code).toBe('WARDEN_CANCELLED');
    await until(() => aborted.includes(id));
    expect(current()?.signal.reason).toMatchObject({ code: 'WARDEN_CANCELLED' });
  });

  it('cancels a stream when the caller stops iterating', async () => {
    lastCtx = undefined;
    const seen: number[] = [];
    for await (const tick of client.call(target('ticks'), null)) {
      seen.push(tick as number);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    const id = current()?.requestId;
    await until(() => id !== undefined && aborted.includes(id));
  });

  it('ends a call past its deadline with WARDEN_DEADLINE_EXCEEDED and aborts the handler', async () => {
    lastCtx = undefined;
    const err = await failure(client.request(target('hang'), null, { timeoutMs: 30 }));
    expect(err.code).toBe('WARDEN_DEADLINE_EXCEEDED');
    await until(() => aborted.includes(current()?.requestId ?? '-'));
  });

  it('ends a call with timeoutMs 0 with WARDEN_DEADLINE_EXCEEDED', async () => {
    const err = await failure(client.request(target('hang'), null, { timeoutMs: 0 }));
    expect(err.code).toBe('WARDEN_DEADLINE_EXCEEDED');
  });
});

describe('tcp calls: errors', () => {
  it('sends a handler error as WARDEN_HANDLER_ERROR with its message and no stack', async () => {
    const err = await failure(client.request(target('boom'), null));
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toBe('the handler broke');
    expect(err.message).not.toMatch(/\bat\b|\.ts|\/work\//);
  });

  it("keeps a WardenError's code", async () => {
    const err = await failure(client.request(target('coded'), null));
    expect(err.code).toBe('WARDEN_OVERLOADED');
    expect(err.message).toBe('try later');
  });

  it('delivers chunks before an error in the middle of a stream', async () => {
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const c of client.call(target('streamboom'), null)) got.push(c);
      })(),
    );
    expect(got).toEqual([1]);
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toBe('broke mid-stream');
  });

  it('reports a response chunk that cannot be encoded as JSON', async () => {
    const err = await failure(client.request(target('unencodable'), null));
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toMatch(/cannot be encoded as JSON/);
  });

  it("validates the body with the endpoint's schema: WARDEN_INVALID_REQUEST with zod's issue", async () => {
    expect(await client.request(target('typed'), { n: 21 })).toBe(42);
    const err = await failure(client.request(target('typed'), { n: 'x' }));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
    expect(err.message).toMatch(/n: Invalid input: expected number, received string/);
  });

  it('answers an unknown endpoint, an unknown instance; serves the right instance', async () => {
    expect((await failure(client.request(target('nope'), null))).code).toBe('WARDEN_ENDPOINT_NOT_FOUND');
    const wrong = { ...target('echo'), instanceId: '0000000000000000' };
    expect((await failure(client.request(wrong, null))).code).toBe('WARDEN_INSTANCE_NOT_FOUND');
    expect(await client.request({ ...target('echo'), instanceId }, 'direct')).toBe('direct');
  });

  it('refuses a body that cannot be encoded as JSON before sending', async () => {
    const err = await failure(client.request(target('echo'), { n: 1n }));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
  });
});

/** Length field of the REQUEST frame the client sends for a raw body of `bodyBytes` (first calls of a fresh client). */
function requestFrameBytes(t: CallTarget, bodyBytes: number, requestIdLength = 14): number {
  const frame = encodeRequest(
    1,
    {
      deadline: 0,
      window: UNLIMITED_WINDOW,
      namespace: t.namespace,
      component: t.component,
      endpoint: t.endpoint,
      instanceId: '',
      requestId: 'r'.repeat(requestIdLength),
      headers: undefined,
    },
    1,
    new Uint8Array(bodyBytes),
  );
  return frame.length - 4;
}

describe('tcp calls: message size', () => {
  const limit = 64 * 1024;

  it("fails a body over the client's limit locally, without dialling; one at the limit goes through", async () => {
    const fresh = createTcpServer();
    await fresh.start();
    const t: CallTarget = { address: fresh.address(), namespace: NS, component: COMP, endpoint: 'echo' };
    const small = createTcpClient({ maxMessageBytes: limit });
    try {
      const overhead = requestFrameBytes(t, 0);
      const err = await failure(small.request(t, new Uint8Array(limit - overhead + 1)));
      expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
      expect(small.connectionCount).toBe(0);
      expect(fresh.connectionCount).toBe(0);
      // At the limit, the frame leaves; this server has no such endpoint, which proves it arrived.
      const atLimit = await failure(small.request(t, new Uint8Array(limit - overhead)));
      expect(atLimit.code).toBe('WARDEN_ENDPOINT_NOT_FOUND');
    } finally {
      await small.close();
      await fresh.stop();
    }
  });

  it("answers a body over the server's limit with WARDEN_MESSAGE_TOO_LARGE and keeps the connection", async () => {
    const env = await startServer({ echo: async (b) => b }, { maxMessageBytes: limit });
    const c = createTcpClient();
    try {
      const t = env.target('echo');
      const overhead = requestFrameBytes(t, 0);
      // The first call goes out before the server's HELLO told the client its limit: the server refuses it.
      const err = await failure(c.request(t, new Uint8Array(limit - overhead + 1)));
      expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
      const back = (await c.request(t, new Uint8Array(limit - overhead))) as Uint8Array;
      expect(back.length).toBe(limit - overhead);
      // Now the client knows the server's limit and refuses locally.
      expect((await failure(c.request(t, new Uint8Array(limit)))).code).toBe('WARDEN_MESSAGE_TOO_LARGE');
      expect(env.server.connectionCount).toBe(1);
    } finally {
      await c.close();
      await env.server.stop();
    }
  });

  it("refuses a response chunk over the client's limit", async () => {
    const small = createTcpClient({ maxMessageBytes: limit });
    try {
      expect(((await small.request(target('big'), 1000)) as Uint8Array).length).toBe(1000);
      const err = await failure(small.request(target('big'), limit));
      expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
      expect(err.message).toMatch(/response chunk/);
      expect(await small.request(target('echo'), 'still fine')).toBe('still fine');
    } finally {
      await small.close();
    }
  });

  it('carries bodies of every size, copied or not, interleaved on one connection', async () => {
    const sizes = [0, 1, 100, 4095, 4096, 4097, 16_384, 70_000, 200_000];
    const bodies = sizes.map((n, k) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 7 + k) & 0xff;
      return b;
    });
    const backs = (await Promise.all(
      [...bodies, ...bodies].map((b) => client.request(target('echo'), b)),
    )) as Uint8Array[];
    backs.forEach((back, i) => {
      const body = bodies[i % bodies.length] as Uint8Array;
      expect(Buffer.compare(Buffer.from(back), Buffer.from(body))).toBe(0);
    });
  });

  it('carries a 4 MiB body both ways', async () => {
    const body = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
    const back = (await client.request(target('echo'), body)) as Uint8Array;
    expect(back.length).toBe(body.length);
    expect(Buffer.compare(Buffer.from(back), Buffer.from(body))).toBe(0);
  });
});
