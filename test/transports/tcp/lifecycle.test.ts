/**
 * The TCP server's lifecycle: start, registration rules, drain on unregister, stop without leaks,
 * EADDRINUSE, option validation.
 */
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { SystemHealth } from '../../../src/core/health.js';
import { newInstanceId } from '../../../src/core/request-plane.js';
import { createTcpClient } from '../../../src/transports/tcp/client.js';
import { createTcpServer } from '../../../src/transports/tcp/server.js';
import { COMP, failure, hostPort, NS, startServer, until } from './helpers.js';

const health = new SystemHealth();
const echo = async (b: unknown) => b;

function socketsOpen(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap')
    .length;
}

/**
 * Records every timer made while it is installed (the transport's timers are unref'd, so
 * `getActiveResourcesInfo` does not list them); `live()` counts those neither fired nor cleared.
 * `_destroyed` is Node's own flag on a `Timeout`: set once it fired (a timeout) or was cleared.
 */
function recordTimers(): { live(): number } {
  const made: NodeJS.Timeout[] = [];
  const realTimeout = globalThis.setTimeout;
  const realInterval = globalThis.setInterval;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((...args: Parameters<typeof setTimeout>) => {
    const t = realTimeout(...args);
    made.push(t);
    return t;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
    const t = realInterval(...args);
    made.push(t);
    return t;
  }) as typeof setInterval);
  return { live: () => made.filter((t) => !(t as unknown as { _destroyed: boolean })._destroyed).length };
}

describe('tcp server lifecycle', () => {
  it('listens on 127.0.0.1 and reports its address and health', async () => {
    const server = createTcpServer();
    expect(server.transportName).toBe('tcp');
    expect(server.isHealthy()).toBe(false);
    expect(() => server.address()).toThrow(expect.objectContaining({ code: 'WARDEN_SERVER_NOT_RUNNING' }));
    await server.start();
    expect(server.state).toBe('listening');
    expect(server.address()).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(server.isHealthy()).toBe(true);
    await server.stop();
    expect(server.state).toBe('stopped');
    expect(server.isHealthy()).toBe(false);
  });

  it('refuses a duplicate registration and keeps the first handler', async () => {
    const { server, target, instanceId } = await startServer({ echo });
    const client = createTcpClient();
    try {
      const dup = server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint: 'echo',
        instanceId,
        health,
        handler: async () => 'impostor',
      });
      expect((await failure(dup)).code).toBe('WARDEN_ENDPOINT_EXISTS');
      expect(await client.request(target('echo'), 'original')).toBe('original');
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('refuses registration before start and after stop', async () => {
    const server = createTcpServer();
    const reg = {
      namespace: NS,
      component: COMP,
      endpoint: 'echo',
      instanceId: newInstanceId(),
      health,
      handler: echo,
    };
    expect((await failure(server.registerEndpoint(reg))).code).toBe('WARDEN_SERVER_NOT_RUNNING');
    await server.start();
    await server.stop();
    expect((await failure(server.registerEndpoint(reg))).code).toBe('WARDEN_SERVER_NOT_RUNNING');
  });

  it('drains on unregister: in-flight calls finish, new ones get WARDEN_ENDPOINT_DRAINING, stragglers are aborted', async () => {
    const gates: Array<() => void> = [];
    let signal: AbortSignal | undefined;
    const { server, target } = await startServer({
      slow: (_b, ctx) =>
        new Promise((resolve, reject) => {
          gates.push(() => resolve('finished'));
          signal = ctx.signal;
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        }),
    });
    const client = createTcpClient();
    try {
      // 1. An in-flight call finishes within the drain time.
      const first = client.request(target('slow'), null);
      await until(() => gates.length === 1);
      const draining = server.unregisterEndpoint('slow', { drainMs: 5000 });
      expect((await failure(client.request(target('slow'), null))).code).toBe('WARDEN_ENDPOINT_DRAINING');
      gates[0]?.();
      expect(await first).toBe('finished');
      await draining;
      expect((await failure(client.request(target('slow'), null))).code).toBe('WARDEN_ENDPOINT_NOT_FOUND');

      // 2. A straggler is aborted when the drain time runs out.
      await server.registerEndpoint({
        namespace: NS,
        component: COMP,
        endpoint: 'slow',
        instanceId: newInstanceId(),
        health,
        handler: (_b, ctx) =>
          new Promise((_, reject) => {
            signal = ctx.signal;
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          }),
      });
      signal = undefined;
      const straggler = client.request(target('slow'), null);
      await until(() => signal !== undefined);
      await server.unregisterEndpoint('slow', { drainMs: 20 });
      expect((await failure(straggler)).code).toBe('WARDEN_ENDPOINT_DRAINING');
      expect((signal as AbortSignal | undefined)?.aborted).toBe(true);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('stop() drains, closes the listener and every connection, and leaves no socket or timer behind', async () => {
    const before = socketsOpen();
    const timers = recordTimers();
    const { server, target } = await startServer({ echo });
    const clients = [createTcpClient(), createTcpClient(), createTcpClient()];
    for (const c of clients) expect(await c.request(target('echo'), 1)).toBe(1);
    expect(server.connectionCount).toBe(3);
    await server.stop();
    expect(server.state).toBe('stopped');
    expect(server.connectionCount).toBe(0);
    // The listener is gone: a new call cannot connect.
    const late = createTcpClient();
    const err = await failure(late.request(target('echo'), 1));
    expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
    await Promise.all([...clients, late].map((c) => c.close()));
    await until(() => socketsOpen() <= before);
    expect(socketsOpen()).toBeLessThanOrEqual(before);
    // Keepalive intervals, handshake, connect and close timers of the server and the clients are gone.
    vi.restoreAllMocks();
    expect(timers.live()).toBe(0);
  });

  it('stop() lets an in-flight call finish within drainMs', async () => {
    let release!: () => void;
    const { server, target } = await startServer({
      slow: () =>
        new Promise((resolve) => {
          release = () => resolve('done');
        }),
    });
    const client = createTcpClient();
    try {
      const call = client.request(target('slow'), null);
      await until(() => release !== undefined);
      const stopping = server.stop({ drainMs: 5000 });
      expect(server.isHealthy()).toBe(false);
      release();
      expect(await call).toBe('done');
      await stopping;
      expect(server.state).toBe('stopped');
    } finally {
      await client.close();
    }
  });

  it('fails to start on EADDRINUSE: state failed, WARDEN_SERVER_START_FAILED', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const server = createTcpServer({ port });
    try {
      const err = await failure(server.start());
      expect(err.code).toBe('WARDEN_SERVER_START_FAILED');
      expect(err.message).toMatch(/EADDRINUSE/);
      expect(err.details).toEqual({ code: 'EADDRINUSE' });
      expect(server.state).toBe('failed');
      expect(server.failure?.code).toBe('EADDRINUSE');
      expect(server.isHealthy()).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('binds the host and port it is given', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const server = createTcpServer({ host: '127.0.0.1', port });
    await server.start();
    expect(hostPort(server.address())).toEqual({ host: '127.0.0.1', port });
    await server.stop();
  });

  it('validates its options with a message naming each field', () => {
    expect(() => createTcpServer({ port: 70_000, maxMessageBytes: 10 })).toThrow(
      expect.objectContaining({
        code: 'WARDEN_INVALID_OPTIONS',
        message: expect.stringMatching(/port: .*; maxMessageBytes: /),
      }),
    );
    expect(() => createTcpServer({ tls: { key: 'k' } as never })).toThrow(/tls\.cert/);
    expect(() => createTcpServer({ bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => createTcpClient({ streamWindowBytes: 1 })).toThrow(/streamWindowBytes/);
  });
});
