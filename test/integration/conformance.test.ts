/**
 * One conformance suite, the same cases against every transport: the promises of DESIGN.md's
 * "Wire behaviour" hold for TCP, HTTP/2 and NATS alike. Transport-specific depth lives in
 * test/transports/<name>/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type ErrorCode, isWardenError, WardenError } from '../../src/core/errors.js';
import { SystemHealth } from '../../src/core/health.js';
import {
  type CallTarget,
  type EndpointHandler,
  newInstanceId,
  type RequestPlaneClient,
} from '../../src/core/request-plane.js';
import { type ConformanceTransport, transports } from './transports.js';

const NS = 'conf';
const COMP = 'suite';

async function failure(promise: Promise<unknown>): Promise<WardenError> {
  try {
    await promise;
  } catch (err) {
    if (isWardenError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

function activeSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap')
    .length;
}

/**
 * Records every timer made while it is installed, as test/transports/tcp/lifecycle.test.ts does (the
 * transports' timers are unref'd, so `getActiveResourcesInfo` does not list them); `live()` lists
 * those neither fired nor cleared. `_destroyed` is Node's own flag on a `Timeout`: set once it fired
 * (a timeout) or was cleared.
 */
function recordTimers(): { live(): Array<{ ms: number; repeat: boolean }> } {
  const made: NodeJS.Timeout[] = [];
  const realTimeout = globalThis.setTimeout;
  const realInterval = globalThis.setInterval;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((...args: Parameters<typeof setTimeout>) => {
    const t = realTimeout(...args);
    made.push(t);
    return t;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
    const t = realInterval(...args);
    made.push(t);
    return t;
  }) as typeof setInterval);
  type Raw = { _destroyed: boolean; _idleTimeout: number; _repeat: number | null };
  return {
    live: () =>
      made
        .map((t) => t as unknown as Raw)
        .filter((t) => !t._destroyed)
        .map((t) => ({ ms: t._idleTimeout, repeat: t._repeat !== null })),
  };
}

/** Marks `p` handled, so a test that fails early leaves no unhandled rejection behind. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** Collects a streamed call: the chunks that arrived, then the error that ended it (if any). */
async function drain(stream: AsyncIterable<unknown>): Promise<{ chunks: unknown[]; error?: WardenError }> {
  const chunks: unknown[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (err) {
    if (isWardenError(err)) return { chunks, error: err };
    throw err;
  }
  return { chunks };
}

describe.each(transports)('conformance: $name', (t: ConformanceTransport) => {
  let env: Awaited<ReturnType<ConformanceTransport['setup']>>;
  let client: RequestPlaneClient;
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  let seen: { signal?: AbortSignal } = {};
  let sizeCalls = 0;
  const held: Array<() => void> = [];

  const handlers: Record<string, EndpointHandler> = {
    echo: async (body) => body,
    stream: async function* (body) {
      const n = (body as { n: number }).n;
      for (let i = 0; i < n; i++) yield { i };
    },
    size: async (body) => {
      sizeCalls++;
      return typeof body === 'string' ? body.length : -1;
    },
    held: () => new Promise((resolve) => held.push(() => resolve('released'))),
    hang: (_b, ctx) => {
      seen = { signal: ctx.signal };
      return new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      );
    },
    unencodable: async () => ({ n: 1n }),
    boom: async () => {
      throw new Error('the handler broke');
    },
    refuse: async (body) => {
      const { code, message } = body as { code: ErrorCode; message: string };
      throw new WardenError(code, message);
    },
    breaks: async function* (body) {
      const { n, code } = body as { n: number; code?: ErrorCode };
      for (let i = 0; i < n; i++) yield { i };
      throw code === undefined
        ? new Error('the stream broke')
        : new WardenError(code, 'the stream was refused');
    },
    typed: async (body) => (body as { n: number }).n * 2,
  };

  beforeAll(async () => {
    env = await t.setup();
    await env.server.start();
    for (const [endpoint, handler] of Object.entries(handlers)) {
      await env.server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint,
        handler,
        instanceId,
        health,
        ...(endpoint === 'typed' ? { schema: z.object({ n: z.number().int() }) } : {}),
      });
    }
    await env.ready?.();
    client = env.client;
  });

  afterAll(async () => {
    await client?.close();
    await env?.server.stop({ drainMs: 100 });
    await env?.teardown?.();
  });

  afterEach(() => {
    seen = {};
  });

  const target = (endpoint: string, extra: Partial<CallTarget> = {}): CallTarget => ({
    address: env.server.address(),
    namespace: NS,
    component: COMP,
    endpoint,
    ...extra,
  });

  it('is healthy while listening and reports its transport and address', () => {
    expect(env.server.isHealthy()).toBe(true);
    expect(env.server.transportName).toBe(t.name);
    expect(env.server.address()).toMatch(t.addressPattern);
  });

  it('answers a unary call', async () => {
    expect(await client.request(target('echo'), { hello: 'world' })).toEqual({ hello: 'world' });
  });

  it('streams 1,000 chunks complete and in order', async () => {
    const got: number[] = [];
    for await (const chunk of client.call(target('stream'), { n: 1000 }))
      got.push((chunk as { i: number }).i);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('serves 100 concurrent callers', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => client.request(target('echo'), { i })),
    );
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
  });

  it('takes a payload just under the size limit and refuses one over it, then keeps serving', async () => {
    const under = 'x'.repeat(t.maxBodyChars);
    expect(await client.request(target('size'), under, { timeoutMs: 10_000 })).toBe(t.maxBodyChars);
    const callsBefore = sizeCalls;
    const over = 'x'.repeat(t.overBodyChars);
    // Refused by t.overLimitRefusedBy; the server's own refusal is the raw-connection case below.
    const err = await failure(client.request(target('size'), over, { timeoutMs: 10_000 }));
    expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
    expect(sizeCalls).toBe(callsBefore);
    expect(await client.request(target('echo'), 'still here')).toBe('still here');
  });

  // NATS has no raw connection (a request is one NATS message, sized by nats-server): see
  // t.why.rawConnection in transports.ts. The case exists only for the transports that have one.
  const rawConnection = t.rawConnection;
  if (rawConnection)
    it('the server itself refuses an over-limit request on its stream and serves on, on that connection and others', async () => {
      const raw = await rawConnection(env.server.address());
      try {
        // A call in flight on the same connection before the refusal.
        const before = handled(raw.request(NS, COMP, 'held', 'null'));
        await vi_waitFor(() => held.length === 1);
        const callsBefore = sizeCalls;
        const over = await raw.request(NS, COMP, 'size', JSON.stringify('x'.repeat(t.overBodyChars)));
        expect(over).toMatchObject({
          code: 'WARDEN_MESSAGE_TOO_LARGE',
          message: expect.stringMatching(/\d/),
        });
        expect(sizeCalls).toBe(callsBefore);
        // The same connection: a new stream after the refusal, and the one opened before it.
        expect(await raw.request(NS, COMP, 'echo', '"same connection"')).toEqual({ ok: 'same connection' });
        held.shift()?.();
        expect(await before).toEqual({ ok: 'released' });
        // Under the limit on the same connection: the handler runs.
        expect(await raw.request(NS, COMP, 'size', JSON.stringify('x'.repeat(t.maxBodyChars)))).toEqual({
          ok: t.maxBodyChars,
        });
        // Another connection.
        expect(await client.request(target('echo'), 'other connection')).toBe('other connection');
        expect(env.server.isHealthy()).toBe(true);
      } finally {
        raw.close();
      }
    });

  it("refuses an unknown endpoint and an unknown instance with exactly the transport's code", async () => {
    expect((await failure(client.request(target('missing'), {}))).code, t.why.unknownEndpoint).toBe(
      t.unknownEndpointCode,
    );
    expect(
      (await failure(client.request(target('echo', { instanceId: 'ffffffffffffffff' }), {}))).code,
      t.why.unknownInstance,
    ).toBe(t.unknownInstanceCode);
    expect(await client.request(target('echo', { instanceId }), 'direct')).toBe('direct');
  });

  it('refuses a duplicate registration with WARDEN_ENDPOINT_EXISTS', async () => {
    const err = await failure(
      env.server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint: 'echo',
        handler: async () => 'other',
        instanceId,
        health,
      }),
    );
    expect(err.code).toBe('WARDEN_ENDPOINT_EXISTS');
    expect(await client.request(target('echo'), 'original')).toBe('original');
  });

  it('cancels: the handler signal aborts and the caller sees WARDEN_CANCELLED', async () => {
    const controller = new AbortController();
    const call = client.request(target('hang'), {}, { signal: controller.signal });
    await vi_waitFor(() => seen.signal !== undefined);
    controller.abort();
    expect((await failure(call)).code).toBe('WARDEN_CANCELLED');
    await vi_waitFor(() => seen.signal?.aborted === true);
  });

  it('enforces the deadline: WARDEN_DEADLINE_EXCEEDED and the handler is aborted', async () => {
    const err = await failure(client.request(target('hang'), {}, { timeoutMs: 150 }));
    expect(err.code).toBe('WARDEN_DEADLINE_EXCEEDED');
    await vi_waitFor(() => seen.signal?.aborted === true);
  });

  it("sends a handler's error code and message, never its stack", async () => {
    const err = await failure(client.request(target('boom'), {}));
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toContain('the handler broke');
    expect(err.message).not.toMatch(/\n\s+at /);
  });

  it('a result JSON cannot encode is the handler’s error, and the server serves on', async () => {
    const err = await failure(client.request(target('unencodable'), {}));
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toMatch(/A response chunk cannot be encoded as JSON: .*BigInt/);
    expect(await client.request(target('echo'), 'after')).toBe('after');
  });

  it.each([
    ['WARDEN_OVERLOADED', 'the queue is full, retry in a moment'],
    ['WARDEN_INVALID_REQUEST', 'sku 9 does not exist'],
  ] as const)(
    "keeps a handler's own WardenError: %s and its message reach the caller",
    async (code, message) => {
      const err = await failure(client.request(target('refuse'), { code, message }));
      expect(err.code).toBe(code);
      expect(err.message).toBe(message);
      expect(await client.request(target('echo'), 'after')).toBe('after');
    },
  );

  it('a stream that fails after some chunks: the caller gets the chunks, then the error', async () => {
    const plain = await drain(client.call(target('breaks'), { n: 3 }));
    expect(plain.chunks).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(plain.error?.code).toBe('WARDEN_HANDLER_ERROR');
    expect(plain.error?.message).toContain('the stream broke');
    expect(plain.error?.message).not.toMatch(/\n\s+at /);

    const own = await drain(client.call(target('breaks'), { n: 2, code: 'WARDEN_OVERLOADED' }));
    expect(own.chunks).toEqual([{ i: 0 }, { i: 1 }]);
    expect(own.error?.code).toBe('WARDEN_OVERLOADED');
    expect(own.error?.message).toBe('the stream was refused');

    // One chunk, then the error at once (HTTP/2 holds a first chunk until the end of the tick).
    const one = await drain(client.call(target('breaks'), { n: 1, code: 'WARDEN_INVALID_REQUEST' }));
    expect(one.chunks).toEqual([{ i: 0 }]);
    expect(one.error?.code).toBe('WARDEN_INVALID_REQUEST');

    // Also when the very first step fails: no chunk, just the error.
    const first = await drain(client.call(target('breaks'), { n: 0 }));
    expect(first).toEqual({ chunks: [], error: expect.objectContaining({ code: 'WARDEN_HANDLER_ERROR' }) });
  });

  it("refuses a body that fails the endpoint's schema with zod's issue", async () => {
    expect(await client.request(target('typed'), { n: 21 })).toBe(42);
    const err = await failure(client.request(target('typed'), { n: 'twenty' }));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
    expect(err.message).toMatch(/n: .*number/i);
  });

  it('unregisterEndpoint lets in-flight calls finish, refuses new ones, then aborts stragglers', async () => {
    const finish: Array<() => void> = [];
    let stragglerAborted = false;
    await env.server.registerEndpoint({
      namespace: NS,
      component: COMP,
      endpoint: 'drain',
      instanceId,
      health,
      handler: (body, ctx) =>
        new Promise((resolve) => {
          if ((body as { keep: boolean }).keep) {
            ctx.signal.addEventListener('abort', () => {
              stragglerAborted = true;
            });
          } else finish.push(() => resolve('finished'));
        }),
    });
    await env.ready?.();
    const quick = client.request(target('drain'), { keep: false }, { timeoutMs: 5000 });
    const straggler = client.request(target('drain'), { keep: true }, { timeoutMs: 5000 });
    await vi_waitFor(() => env.server.endpoints().find((e) => e.endpoint === 'drain')?.inflight === 2);
    const unregistering = env.server.unregisterEndpoint('drain', { drainMs: 300 });
    // Once the server says so, the endpoint is draining on every transport (NATS: unsubscribed too).
    await vi_waitFor(() => env.server.endpoints().find((e) => e.endpoint === 'drain')?.draining === true);
    const refused = await failure(client.request(target('drain'), { keep: false }, { timeoutMs: 2000 }));
    expect(refused.code, t.why.draining).toBe(t.drainingCode);
    finish[0]?.();
    expect(await quick).toBe('finished');
    await unregistering;
    expect((await failure(straggler)).code).toBe('WARDEN_ENDPOINT_DRAINING');
    expect(stragglerAborted).toBe(true);
  });

  it('stop() lets in-flight calls finish within drainMs, then aborts the rest with WARDEN_ENDPOINT_DRAINING', async () => {
    const other = await t.setup();
    try {
      await other.server.start();
      const finish: Array<() => void> = [];
      let stragglerSignal: AbortSignal | undefined;
      await other.server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint: 'slow',
        instanceId: newInstanceId(),
        health,
        handler: (body, ctx) =>
          new Promise((resolve) => {
            if ((body as { keep: boolean }).keep) stragglerSignal = ctx.signal;
            else finish.push(() => resolve('finished'));
          }),
      });
      await other.ready?.();
      const slow: CallTarget = {
        address: other.server.address(),
        namespace: NS,
        component: COMP,
        endpoint: 'slow',
      };
      const quick = handled(other.client.request(slow, { keep: false }, { timeoutMs: 10_000 }));
      const straggler = handled(other.client.request(slow, { keep: true }, { timeoutMs: 10_000 }));
      await vi_waitFor(() => other.server.endpoints()[0]?.inflight === 2);
      const stopping = handled(other.server.stop({ drainMs: 500 }));
      expect(other.server.state).toBe('draining');
      expect(other.server.isHealthy()).toBe(false);
      // The endpoint drains once new work can no longer reach it (NATS: unsubscribed and flushed).
      await vi_waitFor(() => other.server.endpoints()[0]?.draining === true);
      // While it drains, a new call is refused; that takes a round trip, so the drain really waits.
      const refused = await failure(other.client.request(slow, { keep: false }, { timeoutMs: 5000 }));
      expect(refused.code, t.why.stopping).toBe(t.stoppingCode);
      expect(finish).toHaveLength(1);
      // In flight when stop() began: it may still finish, and its response is delivered.
      finish[0]?.();
      expect(await quick).toBe('finished');
      // Still running when drainMs ran out: aborted, and the caller is told why.
      expect((await failure(straggler)).code).toBe('WARDEN_ENDPOINT_DRAINING');
      expect(stragglerSignal?.aborted).toBe(true);
      await stopping;
      expect(other.server.state).toBe('stopped');
    } finally {
      await other.client.close();
      await other.server.stop({ drainMs: 0 });
      await other.teardown?.();
    }
  });

  it('refuses registration on a stopped server, and stop() leaves no sockets, timers or NATS subscriptions', async () => {
    const before = activeSockets();
    const timers = recordTimers();
    const leaving = [{ endpoint: 'leaving', instanceId: newInstanceId() }];
    try {
      const other = await t.setup();
      await other.server.start();
      await other.server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint: 'leaving',
        handler: async (b) => b,
        instanceId: leaving[0]?.instanceId as string,
        health,
      });
      await other.ready?.();
      const address = other.server.address();
      expect(
        await other.client.request({ address, namespace: NS, component: COMP, endpoint: 'leaving' }, 1),
      ).toBe(1);
      // NATS: the probe sees every subscription of the running server (so it can see a leftover).
      const live = await other.probeSubscriptions?.(leaving);
      if (live) expect(Object.entries(live).filter(([, state]) => state === 'none')).toEqual([]);
      await other.client.close();
      await other.server.stop({ drainMs: 100 });
      expect(other.server.isHealthy()).toBe(false);
      const err = await failure(
        other.server.registerEndpoint({
          namespace: NS,
          component: COMP,
          endpoint: 'late',
          handler: async () => 1,
          instanceId,
          health,
        }),
      );
      expect(err.code).toBe('WARDEN_SERVER_NOT_RUNNING');
      const left = await other.probeSubscriptions?.(leaving);
      if (left) expect(Object.entries(left).filter(([, state]) => state !== 'none')).toEqual([]);
      await other.teardown?.();
    } finally {
      vi.restoreAllMocks();
    }
    // Keepalive, handshake, connect, grace and retry timers of the server and its client are gone.
    expect(timers.live()).toEqual([]);
    await vi_waitFor(() => activeSockets() <= before);
  });
});

/** Polls a condition (bounded at 3 s) without fixed sleeps. */
async function vi_waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met within 3 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}
