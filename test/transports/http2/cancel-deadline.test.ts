import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isWardenError } from '../../../src/core/errors.js';
import { COMP, type Fixture, failure, json, NS, rawRequest, startFixture, waitFor } from './helpers.js';

describe('http2 cancel and deadline', () => {
  let f: Fixture;
  let signals: AbortSignal[] = [];

  beforeAll(async () => {
    f = await startFixture();
    await f.register(
      'hang',
      (_body, ctx) =>
        new Promise((_, reject) => {
          signals.push(ctx.signal);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
    );
    await f.register('tick', async function* (_body, ctx) {
      signals.push(ctx.signal);
      for (let i = 0; !ctx.signal.aborted; i++) {
        yield i;
        await new Promise((r) => setTimeout(r, 2));
      }
    });
  });

  afterEach(() => {
    signals = [];
  });

  afterAll(async () => {
    await f.close();
  });

  const inflight = (endpoint: string) => f.server.endpoints().find((e) => e.endpoint === endpoint)?.inflight;

  it('cancel: RST_STREAM aborts the handler and the caller gets WARDEN_CANCELLED', async () => {
    const controller = new AbortController();
    const call = f.client.request(f.target('hang'), {}, { signal: controller.signal });
    await waitFor(() => signals.length === 1);
    controller.abort();
    expect((await failure(call)).code).toBe('WARDEN_CANCELLED');
    await waitFor(() => signals[0]?.aborted === true);
    expect(isWardenError(signals[0]?.reason, 'WARDEN_CANCELLED')).toBe(true);
    await waitFor(() => inflight('hang') === 0);
  });

  it('cancel in the middle of a stream stops the handler', async () => {
    const controller = new AbortController();
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const chunk of f.client.call(f.target('tick'), {}, { signal: controller.signal })) {
          got.push(chunk);
          if (got.length === 5) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe('WARDEN_CANCELLED');
    expect(got).toEqual([0, 1, 2, 3, 4]);
    await waitFor(() => signals[0]?.aborted === true);
  });

  it('a signal aborted before the call sends nothing and fails at once', async () => {
    const err = await failure(f.client.request(f.target('hang'), {}, { signal: AbortSignal.abort() }));
    expect(err.code).toBe('WARDEN_CANCELLED');
    expect(signals).toHaveLength(0);
  });

  it('deadline: the caller gets WARDEN_DEADLINE_EXCEEDED and the handler is aborted', async () => {
    const started = Date.now();
    const err = await failure(f.client.request(f.target('hang'), {}, { timeoutMs: 100 }));
    expect(err.code).toBe('WARDEN_DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor(() => signals[0]?.aborted === true);
    await waitFor(() => inflight('hang') === 0);
  });

  it('the server enforces warden-timeout-ms on its own: 504 WARDEN_DEADLINE_EXCEEDED', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/hang`,
      { 'content-type': 'application/json', 'warden-timeout-ms': '50' },
      '{}',
    );
    expect(res.status).toBe(504);
    expect(json(res)).toMatchObject({ code: 'WARDEN_DEADLINE_EXCEEDED' });
    expect(signals[0]?.aborted).toBe(true);
  });

  it('a warden-deadline already in the past fails before the handler runs', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/hang`,
      { 'warden-deadline': String(Date.now() - 1000) },
      '{}',
    );
    expect(res.status).toBe(504);
    expect(signals).toHaveLength(0);
  });

  it('a malformed deadline header is a 400 WARDEN_INVALID_REQUEST', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/hang`,
      { 'warden-timeout-ms': '-5' },
      '{}',
    );
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ code: 'WARDEN_INVALID_REQUEST' });
    expect(signals).toHaveLength(0);
  });
});
