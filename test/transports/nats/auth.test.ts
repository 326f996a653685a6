import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemHealth } from '../../../src/core/health.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import { createNatsClient, createNatsServer, NATS_SESSION_ID } from '../../../src/transports/nats/index.js';
import { startNatsServer } from '../../helpers/nats-server.js';
import { FAST_RETRY } from './fixture.js';

// The shared helper starts servers without auth; this file starts one with a user and password.
let proc: ChildProcess | undefined;
let url = '';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

beforeAll(async () => {
  // Fails with the helper's clear message when nats-server is missing.
  const probe = await startNatsServer();
  await probe.stop();
  const port = await freePort();
  proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--user', 'ada', '--pass', 's3cret'], {
    stdio: 'ignore',
  });
  url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 200 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 25));
});
afterAll(() => {
  proc?.kill('SIGKILL');
});

const reg = () => ({
  namespace: 'auth',
  component: 'svc',
  endpoint: 'hello',
  instanceId: newInstanceId(),
  health: new SystemHealth(),
  handler: async () => 'hi',
});

describe('NATS auth options', () => {
  it('passes user and password through to NATS, for the server and the client', async () => {
    const server = createNatsServer({
      servers: url,
      retry: FAST_RETRY,
      connectOptions: { user: 'ada', pass: 's3cret' },
    });
    await server.start();
    await server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
    await server.registerEndpoint(reg());
    const client = createNatsClient({ servers: url, connectOptions: { user: 'ada', pass: 's3cret' } });
    const target = { address: server.address(), namespace: 'auth', component: 'svc', endpoint: 'hello' };
    expect(await client.request(target, null, { timeoutMs: 2000 })).toBe('hi');
    await client.close();
    // Without credentials the client cannot connect, and says so.
    const anonymous = createNatsClient({ servers: url });
    const err = await anonymous.request(target, null, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WARDEN_CONNECTION_FAILED' });
    expect((err as Error).message).toMatch(/Authorization Violation/);
    await anonymous.close();
    await server.stop();
  });

  it('wrong credentials are a fatal failure with the reason in the report; the server ends failed', async () => {
    const server = createNatsServer({
      servers: url,
      retry: FAST_RETRY,
      connectOptions: { user: 'ada', pass: 'nope' },
    });
    await server.start();
    const failure = await new Promise<unknown>((resolve) =>
      server.supervisor.on('failed', (e) => resolve(e.report)),
    );
    expect(failure).toMatchObject({ phase: 'connect', kind: 'fatal', code: 'AuthorizationError' });
    expect((failure as { summary: string }).summary).toMatch(/Authorization Violation/);
    // Permanent child, fatal every time: the supervisor gives up past its intensity and the server fails.
    for (let i = 0; i < 200 && server.state !== 'failed'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.state).toBe('failed');
    expect(server.failure?.summary).toMatch(/NATS connection cannot be kept/);
    expect(server.isHealthy()).toBe(false);
  });
});
