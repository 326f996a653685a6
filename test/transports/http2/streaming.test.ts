import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WardenError } from '../../../src/core/errors.js';
import { COMP, type Fixture, failure, NS, rawRequest, startFixture, waitFor } from './helpers.js';

describe('http2 streamed responses', () => {
  let f: Fixture;
  let finallyRan = 0;
  let openGate: (() => void) | undefined;

  beforeAll(async () => {
    f = await startFixture();
    await f.register('count', async function* (body) {
      const n = (body as { n: number }).n;
      for (let i = 0; i < n; i++) yield { i };
    });
    await f.register('mixed', async function* () {
      yield { kind: 'json' };
      yield new Uint8Array([1, 2, 3]);
      yield 'text';
      yield new Uint8Array(0);
    });
    await f.register('rawfirst', async function* () {
      yield new Uint8Array([7]);
      yield { after: true };
    });
    await f.register('late-error', async function* () {
      yield 1;
      yield 2;
      throw new WardenError('WARDEN_OVERLOADED', 'ran out of capacity: 100% used\nline two');
    });
    await f.register('empty', async function* () {});
    await f.register('gated', async function* () {
      yield 'first';
      // Goes on only once the caller has the first chunk: a server that held it back would hang here.
      await new Promise<void>((resolve) => {
        openGate = resolve;
      });
      yield 'second';
    });
    await f.register('endless', async function* () {
      try {
        for (let i = 0; ; i++) {
          yield i;
          await new Promise((r) => setTimeout(r, 1));
        }
      } finally {
        finallyRan++;
      }
    });
  });

  afterAll(async () => {
    await f.close();
  });

  it('streams 1,000 chunks complete and in order', async () => {
    const got: number[] = [];
    for await (const chunk of f.client.call(f.target('count'), { n: 1000 }))
      got.push((chunk as { i: number }).i);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('carries JSON and raw chunks mixed in one framed stream', async () => {
    const got: unknown[] = [];
    for await (const chunk of f.client.call(f.target('mixed'), null)) got.push(chunk);
    expect(got).toEqual([{ kind: 'json' }, new Uint8Array([1, 2, 3]), 'text', new Uint8Array(0)]);
  });

  it('delivers a chunk before the handler has finished (no buffering of the first chunk)', async () => {
    const it = f.client.call(f.target('gated'), null, { timeoutMs: 5000 })[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe('first');
    expect(openGate).toBeDefined();
    openGate?.();
    expect((await it.next()).value).toBe('second');
    expect((await it.next()).done).toBe(true);
  });

  it('delivers chunks and then the error of a stream that fails part way', async () => {
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const chunk of f.client.call(f.target('late-error'), null)) got.push(chunk);
      })(),
    );
    expect(got).toEqual([1, 2]);
    expect(err.code).toBe('WARDEN_OVERLOADED');
    expect(err.message).toBe('ran out of capacity: 100% used\nline two');
  });

  it('ends a stream of zero chunks cleanly', async () => {
    expect(await f.client.request(f.target('empty'), null)).toBeUndefined();
  });

  it('streams NDJSON to a generic client with warden-status in the trailers', async () => {
    const ok = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/count`, {}, '{"n":3}');
    expect(ok.headers['content-type']).toBe('application/x-ndjson');
    expect(ok.body.toString()).toBe('{"i":0}\n{"i":1}\n{"i":2}\n');
    expect(ok.trailers?.['warden-status']).toBe('ok');

    const bad = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/late-error`, {}, '');
    expect(bad.status).toBe(200);
    expect(bad.body.toString()).toBe('1\n2\n');
    expect(bad.trailers?.['warden-status']).toBe('error');
    expect(bad.trailers?.['warden-error-code']).toBe('WARDEN_OVERLOADED');
    expect(bad.trailers?.['warden-error-message']).toBe('ran out of capacity: 100%25 used%0Aline two');
  });

  it('frames a stream whose first chunk is raw even for a generic client', async () => {
    const res = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/rawfirst`, {}, '');
    expect(res.headers['content-type']).toBe('application/vnd.warden.stream');
    expect([...res.body.subarray(0, 6)]).toEqual([1, 0, 0, 0, 1, 7]);
    expect([...res.body.subarray(-5)]).toEqual([2, 0, 0, 0, 0]);
  });

  it('ends an NDJSON stream with WARDEN_PROTOCOL_ERROR when a raw chunk follows JSON', async () => {
    const res = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/mixed`, {}, '');
    expect(res.body.toString()).toBe('{"kind":"json"}\n');
    expect(res.trailers?.['warden-error-code']).toBe('WARDEN_PROTOCOL_ERROR');
  });

  it('stops the handler when the caller breaks out of the loop', async () => {
    const before = finallyRan;
    for await (const chunk of f.client.call(f.target('endless'), null)) {
      if ((chunk as number) >= 3) break;
    }
    await waitFor(() => finallyRan === before + 1);
    await waitFor(() => f.server.endpoints().find((e) => e.endpoint === 'endless')?.inflight === 0);
  });
});
