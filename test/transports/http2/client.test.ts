import { execFile } from 'node:child_process';
import { createServer, type Http2Server as NodeHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemHealth } from '../../../src/core/health.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import { createHttp2Client, createHttp2Server } from '../../../src/transports/http2/index.js';
import { COMP, type Fixture, failure, NS, startFixture, waitFor } from './helpers.js';

const run = promisify(execFile);

/** A bare HTTP/2 server that destroys the session of the first `dropFirst` streams, then echoes as NDJSON. */
async function flakyServer(dropFirst: number): Promise<{ address: string; server: NodeHttp2Server }> {
  const server = createServer();
  let seen = 0;
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    if (seen++ < dropFirst) {
      stream.session?.destroy();
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson', 'warden-status': 'ok' });
    stream.end('"fine"\n');
  });
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('http2 client', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const fixture = async (): Promise<Fixture> => {
    const f = await startFixture();
    cleanups.push(() => f.close());
    await f.register('echo', async (b) => b);
    return f;
  };

  it('multiplexes every call to one address on one session', async () => {
    const f = await fixture();
    for (let i = 0; i < 5; i++) expect(await f.client.request(f.target('echo'), i)).toBe(i);
    await Promise.all(Array.from({ length: 20 }, (_, i) => f.client.request(f.target('echo'), i)));
    expect(f.server.sessionCount).toBe(1);
  });

  it('fails with WARDEN_CONNECTION_FAILED when nothing listens', async () => {
    const server = createHttp2Server();
    await server.start();
    const address = server.address();
    await server.stop();
    const client = createHttp2Client();
    cleanups.push(() => client.close());
    const target = { address, namespace: NS, component: COMP, endpoint: 'echo' };
    const err = await failure(client.request(target, 1));
    expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('fails in-flight calls with WARDEN_CONNECTION_CLOSED when the session is lost, then reconnects', async () => {
    const { address, server } = await flakyServer(1);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = createHttp2Client();
    cleanups.push(() => client.close());
    const target = { address, namespace: NS, component: COMP, endpoint: 'echo' };
    const err = await failure(client.request(target, 1));
    expect(err.code).toBe('WARDEN_CONNECTION_CLOSED');
    expect(await client.request(target, 2)).toBe('fine');
  });

  it('opens a new session after the server sent GOAWAY (server restarted on the same port)', async () => {
    const first = createHttp2Server();
    await first.start();
    const address = first.address();
    const health = new SystemHealth();
    const reg = { namespace: NS, component: COMP, endpoint: 'echo', instanceId: newInstanceId(), health };
    await first.registerEndpoint({ ...reg, handler: async () => 'first' });
    const client = createHttp2Client();
    cleanups.push(() => client.close());
    const target = { address, namespace: NS, component: COMP, endpoint: 'echo' };
    expect(await client.request(target, null)).toBe('first');
    await first.stop();
    const second = createHttp2Server({ port: Number(new URL(address).port) });
    await second.start();
    cleanups.push(() => second.stop());
    await second.registerEndpoint({ ...reg, handler: async () => 'second' });
    expect(await client.request(target, null)).toBe('second');
  });

  it('close() fails in-flight calls and refuses later calls with WARDEN_CLIENT_CLOSED', async () => {
    const f = await fixture();
    let aborted = false;
    await f.register(
      'hang',
      (_b, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
    );
    const pending = f.client.request(f.target('hang'), null);
    await waitFor(() => f.server.endpoints().find((e) => e.endpoint === 'hang')?.inflight === 1);
    const pendingError = failure(pending);
    await f.client.close();
    expect((await pendingError).code).toBe('WARDEN_CLIENT_CLOSED');
    expect((await failure(f.client.request(f.target('echo'), 1))).code).toBe('WARDEN_CLIENT_CLOSED');
    await waitFor(() => aborted);
  });

  it('refuses a body JSON cannot encode with WARDEN_INVALID_REQUEST, before sending anything', async () => {
    const f = await fixture();
    const err = await failure(f.client.request(f.target('echo'), { n: 1n }));
    expect(err.code).toBe('WARDEN_INVALID_REQUEST');
    expect(err.message).toMatch(/BigInt/);
    expect(f.server.endpoints().find((e) => e.endpoint === 'echo')?.requests).toBe(0);
  });

  it('validates its options', () => {
    expect(() => createHttp2Client({ maxMessageBytes: -1 })).toThrow(/maxMessageBytes/);
  });

  it('an idle client does not keep the process alive, a call in flight does', async () => {
    const f = await fixture();
    await f.register('slow', async () => {
      await new Promise((r) => setTimeout(r, 300));
      return 'slow answer';
    });
    const script = fileURLToPath(new URL('./fixtures/idle-client.ts', import.meta.url));
    // A child that never exits is killed after 15 s, which rejects and fails the test.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, f.server.address()], {
      timeout: 15_000,
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    });
    // The script never closes its client: it prints the answer and exits because nothing is left to do.
    expect(stdout.trim()).toBe('slow answer');
  });
});
