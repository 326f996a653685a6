import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemHealth } from '../../src/core/health.js';
import { newInstanceId } from '../../src/core/request-plane.js';
import { createHttp2Server, type Http2Server } from '../../src/transports/http2/index.js';
import { createTcpServer, type TcpServer } from '../../src/transports/tcp/index.js';
import { killAll, runCli, startCli } from './cli.js';

let tcp: TcpServer;
let http2: Http2Server;
/** Released by the test once the first chunk was printed: the stream waits for it. */
let release: () => void = () => {};

beforeAll(async () => {
  const health = new SystemHealth();
  tcp = createTcpServer();
  http2 = createHttp2Server();
  for (const server of [tcp, http2]) {
    await server.start();
    await server.registerEndpoint({
      namespace: 'plant',
      component: 'press',
      endpoint: 'ticks',
      instanceId: newInstanceId(),
      health,
      handler: async function* (request) {
        const { wait } = (request ?? {}) as { wait?: boolean };
        yield { tick: 1 };
        if (wait) await new Promise<void>((r) => (release = r));
        yield { tick: 2 };
        yield { tick: 3, note: 'last' };
      },
    });
  }
});
afterAll(async () => {
  await killAll();
  await tcp.stop({ drainMs: 0 });
  await http2.stop({ drainMs: 0 });
});

describe('warden call', { timeout: 60_000 }, () => {
  it('prints each chunk of a TCP stream as one JSON line as it arrives', async () => {
    const p = startCli(['call', tcp.address(), 'plant/press/ticks', '{"wait":true}']);
    // The first chunk is on stdout while the handler still holds the rest of the stream back.
    await p.waitForLine((l) => l === '{"tick":1}');
    expect(p.stdout()).toBe('{"tick":1}\n');
    release();
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toBe('{"tick":1}\n{"tick":2}\n{"tick":3,"note":"last"}\n');
    expect(p.stderr()).toBe('');
  });

  it('picks the HTTP/2 client for an http:// address', async () => {
    const { code, stdout } = await runCli(['call', http2.address(), 'plant/press/ticks']);
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([{ tick: 1 }, { tick: 2 }, { tick: 3, note: 'last' }]);
  });

  it('exits 1 with the error code when the call fails', async () => {
    const missing = await runCli(['call', tcp.address(), 'plant/press/nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^warden call: WARDEN_ENDPOINT_NOT_FOUND: /);
    const refused = await runCli(['call', 'tcp://127.0.0.1:1', 'plant/press/ticks']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^warden call: WARDEN_CONNECTION_FAILED: /);
  });

  it('exits 2 on bad usage: unknown scheme, bad path, body that is not JSON', async () => {
    const scheme = await runCli(['call', 'ftp://127.0.0.1:21', 'plant/press/ticks']);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain("unknown scheme 'ftp:'");
    const path = await runCli(['call', tcp.address(), 'Plant/press']);
    expect(path.code).toBe(2);
    expect(path.stderr).toContain("'Plant/press' is not namespace/component/endpoint");
    const body = await runCli(['call', tcp.address(), 'plant/press/ticks', '{nope']);
    expect(body.code).toBe(2);
    expect(body.stderr).toContain('the request body is not JSON');
  });
});
