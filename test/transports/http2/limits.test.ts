import { connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMP, type Fixture, failure, json, NS, rawRequest, startFixture, waitFor } from './helpers.js';

const LIMIT = 64 * 1024;

describe('http2 limits', () => {
  let f: Fixture;
  let sizeCalls = 0;
  const release: Array<() => void> = [];

  beforeAll(async () => {
    f = await startFixture({ maxMessageBytes: LIMIT, maxInFlight: 3 });
    await f.register('size', async (body) => {
      sizeCalls++;
      return body instanceof Uint8Array ? body.length : (body as string).length;
    });
    await f.register('echo', async (b) => b);
    await f.register('huge', async () => 'y'.repeat(LIMIT + 10));
    await f.register('held', () => new Promise((resolve) => release.push(() => resolve('released'))));
  });

  afterAll(async () => {
    await f.close();
  });

  it('takes a body exactly at the limit and refuses one byte more with 413, on the same session', async () => {
    const sessionsBefore = f.server.sessionCount;
    // A JSON string of n characters is n + 2 bytes with its quotes.
    expect(await f.client.request(f.target('size'), 'x'.repeat(LIMIT - 2))).toBe(LIMIT - 2);
    expect(await f.client.request(f.target('size'), new Uint8Array(LIMIT))).toBe(LIMIT);
    const callsBefore = sizeCalls;
    const slow = f.client.request(f.target('held'), null);
    await waitFor(() => release.length === 1);
    const err = await failure(f.client.request(f.target('size'), new Uint8Array(LIMIT + 1)));
    expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
    expect(err.message).toContain(String(LIMIT));
    expect(sizeCalls).toBe(callsBefore);
    // The session survived: a stream opened before the refusal and one after both complete on it.
    expect(await f.client.request(f.target('echo'), 'still here')).toBe('still here');
    release.shift()?.();
    expect(await slow).toBe('released');
    expect(f.server.sessionCount).toBe(Math.max(1, sessionsBefore));
  });

  it('refuses an oversized upload without content-length part way, and the session serves on', async () => {
    const session = connect(f.server.address());
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/v1/${NS}/${COMP}/size`,
        'content-type': 'application/octet-stream',
      });
      const status = new Promise<number>((resolve) =>
        stream.on('response', (h) => resolve(h[':status'] ?? 0)),
      );
      const body: Buffer[] = [];
      stream.on('data', (d: Buffer) => body.push(d));
      stream.on('error', () => {});
      const closed = new Promise<void>((resolve) => stream.on('close', resolve));
      // Write 4 × 32 KiB without ending: the server refuses once it has seen more than the limit.
      for (let i = 0; i < 4; i++) stream.write(Buffer.alloc(32 * 1024));
      expect(await status).toBe(413);
      await closed;
      expect(JSON.parse(Buffer.concat(body).toString())).toMatchObject({ code: 'WARDEN_MESSAGE_TOO_LARGE' });
      // Same session, next stream.
      const next = session.request({ ':method': 'POST', ':path': `/v1/${NS}/${COMP}/echo` });
      const parts: Buffer[] = [];
      next.on('data', (d: Buffer) => parts.push(d));
      await new Promise((resolve) => next.on('end', resolve).end('"again"'));
      expect(Buffer.concat(parts).toString()).toBe('"again"\n');
      expect(session.destroyed).toBe(false);
    } finally {
      session.close();
    }
  });

  it('refuses a declared content-length over the limit before reading the body', async () => {
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/size`,
      { 'content-type': 'application/octet-stream', 'content-length': String(LIMIT + 1) },
      Buffer.alloc(LIMIT + 1),
    );
    expect(res.status).toBe(413);
    expect(json(res)).toMatchObject({ code: 'WARDEN_MESSAGE_TOO_LARGE' });
  });

  it('refuses a response chunk over the limit with WARDEN_MESSAGE_TOO_LARGE', async () => {
    const err = await failure(f.client.request(f.target('huge'), null));
    expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
  });

  it('refuses requests beyond maxInFlight on one session with 503 WARDEN_OVERLOADED', async () => {
    const held = [0, 1, 2].map(() => f.client.request(f.target('held'), null));
    await waitFor(() => release.length === 3);
    const err = await failure(f.client.request(f.target('echo'), 'one too many'));
    expect(err.code).toBe('WARDEN_OVERLOADED');
    // Another connection has its own budget.
    const res = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/echo`, {}, '"other session"');
    expect(res.status).toBe(200);
    for (const r of release.splice(0)) r();
    expect(await Promise.all(held)).toEqual(['released', 'released', 'released']);
    expect(await f.client.request(f.target('echo'), 'room again')).toBe('room again');
  });
});
