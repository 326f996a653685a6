import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttp2Client } from '../../../src/transports/http2/index.js';
import { COMP, type Fixture, failure, json, NS, rawRequest, startFixture } from './helpers.js';

describe('http2 token auth', () => {
  const TOKEN = 's3cret-token';
  let f: Fixture;
  let calls = 0;
  let seenHeaders: Readonly<Record<string, string>> = {};

  beforeAll(async () => {
    f = await startFixture({ token: TOKEN }, { token: TOKEN });
    await f.register('echo', async (body, ctx) => {
      calls++;
      seenHeaders = ctx.headers;
      return body;
    });
  });

  afterAll(async () => {
    await f.close();
  });

  it('serves a caller with the right token and hides the token from the handler', async () => {
    expect(await f.client.request(f.target('echo'), 'hi')).toBe('hi');
    expect(seenHeaders.authorization).toBeUndefined();
  });

  it('answers 401 without touching a handler when the token is missing or wrong', async () => {
    const before = calls;
    const none = createHttp2Client();
    const wrong = createHttp2Client({ token: 'guess' });
    try {
      expect((await failure(none.request(f.target('echo'), 'x'))).code).toBe('WARDEN_UNAUTHORIZED');
      expect((await failure(wrong.request(f.target('echo'), 'x'))).code).toBe('WARDEN_UNAUTHORIZED');
    } finally {
      await none.close();
      await wrong.close();
    }
    const path = `/v1/${NS}/${COMP}/echo`;
    for (const authorization of [
      undefined,
      'Bearer s3cret-tokem',
      'Bearer s3cret-token ',
      `Basic ${TOKEN}`,
    ]) {
      const res = await rawRequest(f.server.address(), path, authorization ? { authorization } : {}, '1');
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(json(res)).toMatchObject({ code: 'WARDEN_UNAUTHORIZED' });
    }
    // Even an unknown endpoint answers 401 first: nothing about the server leaks before auth.
    expect((await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/missing`, {}, '1')).status).toBe(401);
    expect(calls).toBe(before);
  });
});
