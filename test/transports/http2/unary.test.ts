import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestContext } from '../../../src/core/request-plane.js';
import { COMP, type Fixture, json, NS, rawRequest, startFixture } from './helpers.js';

describe('http2 unary calls', () => {
  let f: Fixture;
  let lastCtx: RequestContext | undefined;

  beforeAll(async () => {
    f = await startFixture();
    await f.register('echo', async (body, ctx) => {
      lastCtx = ctx;
      return body;
    });
    await f.register('nothing', async () => undefined);
    await f.register('bytes', async (body) =>
      body instanceof Uint8Array ? body.map((b) => b + 1) : 'not bytes',
    );
  });

  afterAll(async () => {
    await f.close();
  });

  it('answers a JSON call and the server reports an http:// address', async () => {
    expect(f.server.transportName).toBe('http2');
    expect(f.server.address()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(f.server.isHealthy()).toBe(true);
    expect(await f.client.request(f.target('echo'), { hello: 'world', n: [1, 2] })).toEqual({
      hello: 'world',
      n: [1, 2],
    });
  });

  it('sends raw bytes both ways as application/octet-stream', async () => {
    const out = await f.client.request(f.target('bytes'), new Uint8Array([1, 2, 250]));
    expect(out).toBeInstanceOf(Uint8Array);
    expect([...(out as Uint8Array)]).toEqual([2, 3, 251]);
  });

  it('maps an undefined result to null, as every transport does', async () => {
    expect(await f.client.request(f.target('nothing'), {})).toBeNull();
  });

  it('passes request id, deadline, traceparent and other headers to the handler', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const before = Date.now();
    await f.client.request(f.target('echo'), 1, {
      timeoutMs: 5000,
      headers: { traceparent, 'x-tenant': 'acme', 'warden-request-id': 'req-42' },
    });
    const ctx = lastCtx as RequestContext;
    expect(ctx.requestId).toBe('req-42');
    expect(ctx.headers.traceparent).toBe(traceparent);
    expect(ctx.headers['x-tenant']).toBe('acme');
    expect(ctx.headers[':path']).toBeUndefined();
    expect(ctx.namespace).toBe(NS);
    expect(ctx.component).toBe(COMP);
    expect(ctx.endpoint).toBe('echo');
    expect(ctx.instanceId).toBe(f.instanceId);
    expect(ctx.deadline).toBeGreaterThanOrEqual(before + 4000);
    expect(ctx.deadline).toBeLessThanOrEqual(Date.now() + 5000);
  });

  it('makes a request id when the caller sends none, and no deadline without the headers', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/echo`,
      {
        'content-type': 'application/json',
      },
      '7',
    );
    expect(res.status).toBe(200);
    const first = lastCtx?.requestId;
    expect(first).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
    expect(lastCtx?.deadline).toBeUndefined();
    await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/echo`, {}, '8');
    expect(lastCtx?.requestId).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
    expect(lastCtx?.requestId).not.toBe(first);
  });

  it('calls one instance directly by id', async () => {
    expect(await f.client.request(f.target('echo', { instanceId: f.instanceId }), 'direct')).toBe('direct');
  });

  it('serves 100 concurrent calls on one session', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => f.client.request(f.target('echo'), { i })),
    );
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
    expect(f.server.sessionCount).toBe(1);
  });

  it('answers a generic client (no accept header) with one NDJSON line and warden-status: ok', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/echo`,
      { 'content-type': 'application/json; charset=utf-8' },
      '{"x":1}',
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['warden-status']).toBe('ok');
    expect(res.body.toString()).toBe('{"x":1}\n');
    expect(res.trailers).toBeUndefined();
  });

  it('answers a generic client with raw bytes as application/octet-stream', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/bytes`,
      { 'content-type': 'application/octet-stream' },
      Buffer.from([9, 8]),
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect([...res.body]).toEqual([10, 9]);
  });

  it('answers the framed format when asked for it: one JSON frame then the end frame', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/echo`,
      { 'content-type': 'application/json', accept: 'application/vnd.warden.stream' },
      '"hi"',
    );
    expect(res.headers['content-type']).toBe('application/vnd.warden.stream');
    expect([...res.body]).toEqual([0, 0, 0, 0, 4, ...Buffer.from('"hi"'), 2, 0, 0, 0, 0]);
  });

  it('treats an empty JSON body as null', async () => {
    const res = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/echo`, {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(200);
    expect(json(res)).toBeNull();
  });
});
