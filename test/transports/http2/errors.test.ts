import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WardenError } from '../../../src/core/errors.js';
import { COMP, type Fixture, failure, json, NS, rawRequest, startFixture } from './helpers.js';

describe('http2 errors before the first chunk', () => {
  let f: Fixture;
  let typedCalls = 0;

  beforeAll(async () => {
    f = await startFixture();
    await f.register('boom', async () => {
      throw new Error('the handler broke');
    });
    await f.register('refuse', async () => {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'sku 9 does not exist');
    });
    await f.register(
      'typed',
      async (body) => {
        typedCalls++;
        return (body as { n: number }).n * 2;
      },
      z.object({ n: z.number().int() }),
    );
    await f.register('echo', async (b) => b);
  });

  afterAll(async () => {
    await f.close();
  });

  const path = (endpoint: string) => `/v1/${NS}/${COMP}/${endpoint}`;
  const jsonHeaders = { 'content-type': 'application/json' };

  it("sends a handler's error code and message, never its stack", async () => {
    const err = await failure(f.client.request(f.target('boom'), {}));
    expect(err.code).toBe('WARDEN_HANDLER_ERROR');
    expect(err.message).toBe('the handler broke');

    const res = await rawRequest(f.server.address(), path('boom'), jsonHeaders, '{}');
    expect(res.status).toBe(500);
    expect(res.headers['warden-error-code']).toBe('WARDEN_HANDLER_ERROR');
    expect(json(res)).toEqual({ code: 'WARDEN_HANDLER_ERROR', message: 'the handler broke' });
    expect(res.body.toString()).not.toMatch(/\bat |\.ts|\/work\//);
  });

  it("keeps a WardenError's code and maps it to its HTTP status", async () => {
    const err = await failure(f.client.request(f.target('refuse'), {}));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
    expect(err.message).toBe('sku 9 does not exist');
    expect((await rawRequest(f.server.address(), path('refuse'), jsonHeaders, '{}')).status).toBe(400);
  });

  it("refuses a body that fails the endpoint's schema: 400 with zod's issue, handler not called", async () => {
    expect(await f.client.request(f.target('typed'), { n: 21 })).toBe(42);
    const callsBefore = typedCalls;
    const err = await failure(f.client.request(f.target('typed'), { n: 'twenty' }));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
    expect(err.message).toMatch(/n: .*expected number/i);
    const res = await rawRequest(f.server.address(), path('typed'), jsonHeaders, '{"n":1.5}');
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({
      code: 'WARDEN_INVALID_REQUEST',
      message: expect.stringMatching(/^Invalid request body.*n: /),
    });
    expect(typedCalls).toBe(callsBefore);
  });

  it('refuses a body that is not JSON with 400 WARDEN_PROTOCOL_ERROR', async () => {
    const res = await rawRequest(f.server.address(), path('echo'), jsonHeaders, '{"x":');
    expect(res.status).toBe(400);
    expect(json(res)).toEqual({ code: 'WARDEN_PROTOCOL_ERROR', message: 'The body is not valid JSON' });
  });

  it('refuses an unknown content type with 415', async () => {
    const res = await rawRequest(f.server.address(), path('echo'), { 'content-type': 'text/plain' }, 'hi');
    expect(res.status).toBe(415);
    expect(json(res)).toMatchObject({ code: 'WARDEN_INVALID_REQUEST' });
  });

  it('refuses an unknown endpoint and an unknown instance with 404', async () => {
    expect((await failure(f.client.request(f.target('missing'), {}))).code).toBe('WARDEN_ENDPOINT_NOT_FOUND');
    const wrong = f.target('echo', { instanceId: 'ffffffffffffffff' });
    expect((await failure(f.client.request(wrong, {}))).code).toBe('WARDEN_INSTANCE_NOT_FOUND');

    const res = await rawRequest(
      f.server.address(),
      path('echo'),
      { 'warden-instance-id': 'ffffffffffffffff' },
      '1',
    );
    expect(res.status).toBe(404);
    expect(json(res)).toMatchObject({ code: 'WARDEN_INSTANCE_NOT_FOUND' });
    expect((await rawRequest(f.server.address(), path('missing'), {}, '1')).status).toBe(404);
  });

  it('refuses a path outside /v1/{namespace}/{component}/{endpoint} with 404 and other methods with 405', async () => {
    for (const p of ['/', '/v1/ns/comp', '/v1/ns/comp/echo/extra', '/v2/ns/comp/echo', '/v1//comp/echo']) {
      const res = await rawRequest(f.server.address(), p, {}, '1');
      expect(res.status, p).toBe(404);
      expect(json(res)).toMatchObject({ code: 'WARDEN_ENDPOINT_NOT_FOUND' });
    }
    const get = await rawRequest(f.server.address(), path('echo'), { ':method': 'GET' });
    expect(get.status).toBe(405);
    expect(json(get)).toMatchObject({ code: 'WARDEN_PROTOCOL_ERROR' });
  });

  it('accepts a query string after the path', async () => {
    const res = await rawRequest(f.server.address(), `${path('echo')}?trace=1`, jsonHeaders, '5');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('5\n');
  });
});
