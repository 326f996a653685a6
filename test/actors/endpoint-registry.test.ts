import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EndpointRegistry } from '../../src/actors/endpoint-registry.js';
import { WardenError } from '../../src/core/errors.js';
import { SystemHealth } from '../../src/core/health.js';
import type {
  EndpointHandler,
  InboundRequest,
  ResponseSink,
  WireError,
} from '../../src/core/request-plane.js';

const log = pino({ level: 'silent' });
const ID = '0123456789abcdef';

/** A sink recording what the registry wrote. */
function recorder() {
  const events: Array<
    { type: 'chunk'; value: unknown } | { type: 'end' } | { type: 'error'; error: WireError }
  > = [];
  let settle!: () => void;
  const settled = new Promise<void>((r) => {
    settle = r;
  });
  const s: ResponseSink = {
    chunk: (value) => void events.push({ type: 'chunk', value }),
    end: () => {
      events.push({ type: 'end' });
      settle();
    },
    error: (error) => {
      events.push({ type: 'error', error });
      settle();
    },
  };
  return { sink: s, events, settled };
}

function req(endpoint: string, body: unknown = {}, extra: Partial<InboundRequest> = {}): InboundRequest {
  return { namespace: 'ns', component: 'comp', endpoint, requestId: 'r1', headers: {}, body, ...extra };
}

function registry(handlers: Record<string, EndpointHandler>, schema?: z.ZodType) {
  const health = new SystemHealth();
  const r = new EndpointRegistry(log);
  for (const [endpoint, handler] of Object.entries(handlers)) {
    r.add({
      namespace: 'ns',
      component: 'comp',
      endpoint,
      handler,
      instanceId: ID,
      health,
      ...(schema ? { schema } : {}),
    });
  }
  return { r, health };
}

describe('EndpointRegistry', () => {
  it('refuses duplicate paths with WARDEN_ENDPOINT_EXISTS and never overwrites', () => {
    const first: EndpointHandler = async () => 1;
    const { r, health } = registry({ echo: first });
    expect(() =>
      r.add({
        namespace: 'ns',
        component: 'comp',
        endpoint: 'echo',
        handler: async () => 2,
        instanceId: ID,
        health,
      }),
    ).toThrow(expect.objectContaining({ code: 'WARDEN_ENDPOINT_EXISTS' }));
    expect(r.list()).toHaveLength(1);
  });

  it('rejects bad names and instance ids with WARDEN_INVALID_NAME', () => {
    const health = new SystemHealth();
    const r = new EndpointRegistry(log);
    const base = {
      namespace: 'ns',
      component: 'comp',
      endpoint: 'ok',
      handler: async () => 1,
      instanceId: ID,
      health,
    };
    expect(() => r.add({ ...base, endpoint: 'Bad Name' })).toThrow(/Invalid endpoint name "Bad Name"/);
    expect(() => r.add({ ...base, namespace: '-x' })).toThrow(
      expect.objectContaining({ code: 'WARDEN_INVALID_NAME' }),
    );
    expect(() => r.add({ ...base, instanceId: 'xyz' })).toThrow(/16 lowercase hex digits/);
  });

  it('serves a unary handler as one chunk then end', async () => {
    const { r } = registry({ echo: async (body) => ({ got: body }) });
    const rec = recorder();
    r.dispatch(req('echo', { a: 1 }), rec.sink);
    await rec.settled;
    expect(rec.events).toEqual([{ type: 'chunk', value: { got: { a: 1 } } }, { type: 'end' }]);
  });

  it('streams an async iterable in order', async () => {
    const { r } = registry({
      count: async function* () {
        for (let i = 0; i < 5; i++) yield i;
      },
    });
    const rec = recorder();
    r.dispatch(req('count'), rec.sink);
    await rec.settled;
    expect(rec.events.map((e) => (e.type === 'chunk' ? e.value : e.type))).toEqual([0, 1, 2, 3, 4, 'end']);
  });

  it('answers unknown endpoint, unknown instance and a schema failure with their codes', async () => {
    const { r } = registry({ echo: async (b) => b }, z.object({ n: z.number() }));
    for (const [request, code] of [
      [req('nope'), 'WARDEN_ENDPOINT_NOT_FOUND'],
      [req('echo', { n: 1 }, { instanceId: 'ffffffffffffffff' }), 'WARDEN_INSTANCE_NOT_FOUND'],
      [req('echo', { n: 'x' }), 'WARDEN_INVALID_REQUEST'],
    ] as const) {
      const rec = recorder();
      r.dispatch(request, rec.sink);
      await rec.settled;
      expect(rec.events).toEqual([{ type: 'error', error: expect.objectContaining({ code }) }]);
    }
    const rec = recorder();
    r.dispatch(req('echo', { n: 'x' }), rec.sink);
    await rec.settled;
    expect((rec.events[0] as { error: WireError }).error.message).toContain('n: ');
  });

  it('sends a thrown WardenError code, and WARDEN_HANDLER_ERROR without stack for others', async () => {
    const { r } = registry({
      typed: async () => {
        throw new WardenError('WARDEN_OVERLOADED', 'busy');
      },
      plain: async () => {
        throw new Error('boom at /srv/app/secret.ts');
      },
    });
    const a = recorder();
    r.dispatch(req('typed'), a.sink);
    const b = recorder();
    r.dispatch(req('plain'), b.sink);
    await Promise.all([a.settled, b.settled]);
    expect(a.events).toEqual([{ type: 'error', error: { code: 'WARDEN_OVERLOADED', message: 'busy' } }]);
    expect(b.events).toEqual([
      { type: 'error', error: { code: 'WARDEN_HANDLER_ERROR', message: 'boom at /srv/app/secret.ts' } },
    ]);
    expect(JSON.stringify(b.events)).not.toContain('    at ');
  });

  it('aborts the handler and ends with WARDEN_CANCELLED on cancel', async () => {
    let signal: AbortSignal | undefined;
    const { r } = registry({
      hang: (_b, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const rec = recorder();
    const inflight = r.dispatch(req('hang'), rec.sink);
    inflight.cancel();
    await rec.settled;
    expect(signal?.aborted).toBe(true);
    expect(rec.events).toEqual([
      { type: 'error', error: expect.objectContaining({ code: 'WARDEN_CANCELLED' }) },
    ]);
    expect(r.inflight).toBe(0);
  });

  it('ends with WARDEN_DEADLINE_EXCEEDED and aborts the handler when the deadline passes', async () => {
    let signal: AbortSignal | undefined;
    const { r } = registry({
      hang: (_b, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const rec = recorder();
    r.dispatch(req('hang', {}, { deadline: Date.now() + 20 }), rec.sink);
    await rec.settled;
    expect(signal?.aborted).toBe(true);
    expect(rec.events).toEqual([
      { type: 'error', error: expect.objectContaining({ code: 'WARDEN_DEADLINE_EXCEEDED' }) },
    ]);
  });

  it('pauses a streaming handler while the sink is back-pressured', async () => {
    let produced = 0;
    const { r } = registry({
      many: async function* () {
        for (let i = 0; i < 1000; i++) {
          produced++;
          yield i;
        }
      },
    });
    let release!: () => void;
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const chunks: unknown[] = [];
    let ended = false;
    r.dispatch(req('many'), {
      chunk: (v) => {
        chunks.push(v);
        return chunks.length === 3 ? gate : undefined;
      },
      end: () => {
        ended = true;
      },
      error: () => {},
    });
    await new Promise((res) => setTimeout(res, 20));
    expect(produced).toBe(3);
    release();
    await new Promise((res) => setTimeout(res, 20));
    expect(ended).toBe(true);
    expect(chunks).toHaveLength(1000);
  });

  it('drains: in-flight finishes, new calls are refused, stragglers are aborted after drainMs', async () => {
    const finishers: Array<() => void> = [];
    const { r, health } = registry({
      slow: (_b, ctx) =>
        new Promise((resolve) => {
          finishers.push(() => resolve('done'));
          ctx.signal.addEventListener('abort', () => resolve('aborted'));
        }),
    });
    const fast = recorder();
    const straggler = recorder();
    r.dispatch(req('slow'), fast.sink);
    r.dispatch(req('slow'), straggler.sink);
    const removed = r.remove('ns/comp/slow', 50);
    expect(health.report().endpoints['ns/comp/slow']).toEqual({ status: 'notready', reason: 'draining' });
    const late = recorder();
    r.dispatch(req('slow'), late.sink);
    await late.settled;
    expect(late.events).toEqual([
      { type: 'error', error: expect.objectContaining({ code: 'WARDEN_ENDPOINT_DRAINING' }) },
    ]);
    finishers[0]?.();
    await fast.settled;
    expect(fast.events).toEqual([{ type: 'chunk', value: 'done' }, { type: 'end' }]);
    await removed;
    expect(straggler.events).toEqual([
      { type: 'error', error: expect.objectContaining({ code: 'WARDEN_ENDPOINT_DRAINING' }) },
    ]);
    expect(r.list()).toEqual([]);
    expect(health.report().endpoints).toEqual({});
  });

  it('finds an endpoint by name alone only when unambiguous', () => {
    const health = new SystemHealth();
    const r = new EndpointRegistry(log);
    r.add({ namespace: 'ns', component: 'a', endpoint: 'x', handler: async () => 1, instanceId: ID, health });
    expect(r.find('x')).toBe('ns/a/x');
    r.add({ namespace: 'ns', component: 'b', endpoint: 'x', handler: async () => 1, instanceId: ID, health });
    expect(() => r.find('x')).toThrow(/ambiguous/);
    expect(() => r.find('y')).toThrow(expect.objectContaining({ code: 'WARDEN_ENDPOINT_NOT_FOUND' }));
  });
});

describe('EndpointRegistry signals', () => {
  it('gives an aborted signal to a handler that reads it only after its response ended', async () => {
    let late: AbortSignal | undefined;
    let readLate!: () => void;
    const health = new SystemHealth();
    const r = new EndpointRegistry(log);
    r.add({
      namespace: 'ns',
      component: 'comp',
      endpoint: 'quick',
      instanceId: ID,
      health,
      handler: async (_b, ctx) => {
        readLate = () => {
          late = ctx.signal;
        };
        return 'ok';
      },
    });
    const rec = recorder();
    r.dispatch(req('quick'), rec.sink);
    await rec.settled;
    readLate();
    expect(late?.aborted).toBe(true);
  });
});
