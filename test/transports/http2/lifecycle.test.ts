import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { isWardenError } from '../../../src/core/errors.js';
import { SystemHealth } from '../../../src/core/health.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import { createHttp2Server } from '../../../src/transports/http2/index.js';
import { COMP, type Fixture, failure, NS, startFixture, waitFor } from './helpers.js';

describe('http2 server lifecycle', () => {
  const open: Fixture[] = [];
  const fixture = async (...args: Parameters<typeof startFixture>) => {
    const f = await startFixture(...args);
    open.push(f);
    return f;
  };

  afterEach(async () => {
    for (const f of open.splice(0)) await f.close();
  });

  it('refuses a duplicate registration with WARDEN_ENDPOINT_EXISTS and keeps the first', async () => {
    const f = await fixture();
    await f.register('echo', async (b) => b);
    const err = await failure(f.register('echo', async () => 'other'));
    expect(err.code).toBe('WARDEN_ENDPOINT_EXISTS');
    expect(await f.client.request(f.target('echo'), 'original')).toBe('original');
  });

  it('refuses registration before start and after stop with WARDEN_SERVER_NOT_RUNNING', async () => {
    const server = createHttp2Server();
    const reg = {
      namespace: NS,
      component: COMP,
      endpoint: 'late',
      handler: async () => 1,
      instanceId: newInstanceId(),
      health: new SystemHealth(),
    };
    expect((await failure(server.registerEndpoint(reg))).code).toBe('WARDEN_SERVER_NOT_RUNNING');
    await server.start();
    expect(server.isHealthy()).toBe(true);
    await server.stop();
    expect(server.state).toBe('stopped');
    expect(server.isHealthy()).toBe(false);
    expect((await failure(server.registerEndpoint(reg))).code).toBe('WARDEN_SERVER_NOT_RUNNING');
  });

  it('unregisterEndpoint lets in-flight calls finish, refuses new ones with 503, then aborts stragglers', async () => {
    const f = await fixture();
    const finish: Array<() => void> = [];
    let stragglerAborted = false;
    await f.register(
      'drain',
      (body, ctx) =>
        new Promise((resolve) => {
          if ((body as { keep: boolean }).keep) {
            ctx.signal.addEventListener('abort', () => {
              stragglerAborted = true;
            });
          } else finish.push(() => resolve('finished'));
        }),
    );
    const quick = f.client.request(f.target('drain'), { keep: false });
    const straggler = f.client.request(f.target('drain'), { keep: true });
    await waitFor(() => f.server.endpoints().find((e) => e.endpoint === 'drain')?.inflight === 2);
    const unregistering = f.server.unregisterEndpoint('drain', { drainMs: 300 });
    await waitFor(() => f.health.report().endpoints[`${NS}/${COMP}/drain`]?.status === 'notready');
    const refused = await failure(f.client.request(f.target('drain'), { keep: false }));
    expect(refused.code).toBe('WARDEN_ENDPOINT_DRAINING');
    finish[0]?.();
    expect(await quick).toBe('finished');
    await unregistering;
    const late = await failure(straggler);
    expect(late.code).toBe('WARDEN_ENDPOINT_DRAINING');
    expect(stragglerAborted).toBe(true);
    expect((await failure(f.client.request(f.target('drain'), { keep: false }))).code).toBe(
      'WARDEN_ENDPOINT_NOT_FOUND',
    );
    expect(f.health.report().endpoints[`${NS}/${COMP}/drain`]).toBeUndefined();
  });

  it('stop() drains, closes every session and leaves no open sockets', async () => {
    const f = await startFixture();
    await f.register('echo', async (b) => b);
    expect(await f.client.request(f.target('echo'), 1)).toBe(1);
    const raw = connect(f.server.address());
    await new Promise((resolve) => raw.once('connect', resolve));
    await waitFor(() => f.server.sessionCount === 2);
    const rawClosed = new Promise((resolve) => raw.once('close', resolve));
    raw.on('error', () => {});
    await f.server.stop({ drainMs: 100 });
    expect(f.server.state).toBe('stopped');
    expect(f.server.sessionCount).toBe(0);
    await rawClosed;
    await f.client.close();
    await waitFor(
      () => !process.getActiveResourcesInfo().some((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap'),
    );
  });

  it('stop() destroys a session whose peer stopped reading, within a bounded time', async () => {
    const f = await startFixture({ drainMs: 100 });
    let aborted = false;
    await f.register('flood', async function* (_b, ctx) {
      ctx.signal.addEventListener('abort', () => {
        aborted = true;
      });
      for (;;) yield 'z'.repeat(4096);
    });
    const raw = connect(f.server.address());
    raw.on('error', () => {});
    const stream = raw.request({ ':method': 'POST', ':path': `/v1/${NS}/${COMP}/flood` });
    stream.on('error', () => {});
    stream.end('null');
    await new Promise((resolve) => stream.once('response', resolve));
    stream.pause();
    const started = Date.now();
    await f.server.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(aborted).toBe(true);
    expect(f.server.sessionCount).toBe(0);
    await f.client.close();
    raw.destroy();
  });

  it('start() rejects with WARDEN_SERVER_START_FAILED when the port is in use, and the server is failed', async () => {
    const f = await fixture();
    const port = Number(new URL(f.server.address()).port);
    const second = createHttp2Server({ port });
    const err = await failure(second.start());
    expect(err.code).toBe('WARDEN_SERVER_START_FAILED');
    expect(err.details).toEqual({ code: 'EADDRINUSE' });
    expect(second.state).toBe('failed');
    expect(second.failure?.code).toBe('EADDRINUSE');
    expect(second.isHealthy()).toBe(false);
    await second.stop();
  });

  it('start() rejects with WARDEN_SERVER_START_FAILED on unusable TLS material', async () => {
    const bad = createHttp2Server({ tls: { key: 'not a key', cert: 'not a certificate' } });
    const err = await failure(bad.start());
    expect(err.code).toBe('WARDEN_SERVER_START_FAILED');
    expect(err.message).toMatch(/PEM|key|certificate/i);
    expect(bad.state).toBe('failed');
  });

  it('validates its options with WARDEN_INVALID_OPTIONS naming the field', () => {
    for (const bad of [
      { port: 70000 },
      { maxMessageBytes: 0 },
      { maxInFlight: -1 },
      { token: '' },
      { host: '' },
    ]) {
      try {
        createHttp2Server(bad);
        expect.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(isWardenError(err, 'WARDEN_INVALID_OPTIONS')).toBe(true);
        expect((err as Error).message).toContain(Object.keys(bad)[0]);
      }
    }
  });
});
