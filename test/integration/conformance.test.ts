/**
 * One conformance suite, the same cases against every transport: the promises of DESIGN.md's
 * "Wire behaviour" hold for TCP, HTTP/2 and NATS alike. Transport-specific depth lives in
 * test/transports/<name>/.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isWardenError, type WardenError } from '../../src/core/errors.js';
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

describe.each(transports)('conformance: $name', (t: ConformanceTransport) => {
  let env: Awaited<ReturnType<ConformanceTransport['setup']>>;
  let client: RequestPlaneClient;
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  let seen: { signal?: AbortSignal } = {};

  const handlers: Record<string, EndpointHandler> = {
    echo: async (body) => body,
    stream: async function* (body) {
      const n = (body as { n: number }).n;
      for (let i = 0; i < n; i++) yield { i };
    },
    size: async (body) => (typeof body === 'string' ? body.length : -1),
    hang: (_b, ctx) => {
      seen = { signal: ctx.signal };
      return new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      );
    },
    boom: async () => {
      throw new Error('the handler broke');
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
    const over = 'x'.repeat(t.overBodyChars);
    const err = await failure(client.request(target('size'), over, { timeoutMs: 10_000 }));
    expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
    expect(await client.request(target('echo'), 'still here')).toBe('still here');
  });

  it('refuses an unknown endpoint and an unknown instance with a clear code', async () => {
    expect((await failure(client.request(target('missing'), {}))).code).toBe(t.unknownEndpointCode);
    expect((await failure(client.request(target('echo', { instanceId: 'ffffffffffffffff' }), {}))).code).toBe(
      t.unknownInstanceCode,
    );
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
    const refused = await failure(client.request(target('drain'), { keep: false }, { timeoutMs: 2000 }));
    expect(t.drainingCodes).toContain(refused.code);
    finish[0]?.();
    expect(await quick).toBe('finished');
    await unregistering;
    expect((await failure(straggler)).code).toBe('WARDEN_ENDPOINT_DRAINING');
    expect(stragglerAborted).toBe(true);
  });

  it('refuses registration on a stopped server, and stop() leaves no open sockets', async () => {
    const other = await t.setup();
    const before = activeSockets();
    await other.server.start();
    await other.server.registerEndpoint({
      namespace: NS,
      component: COMP,
      endpoint: 'echo',
      handler: async (b) => b,
      instanceId,
      health,
    });
    await other.ready?.();
    const address = other.server.address();
    expect(await other.client.request({ address, namespace: NS, component: COMP, endpoint: 'echo' }, 1)).toBe(
      1,
    );
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
    await other.teardown?.();
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
