/**
 * The TCP client's connection handling: one connection per address shared by all calls, dial
 * failures, connection loss, re-dial on the next call, and close().
 */
import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createTcpClient } from '../../../src/transports/tcp/client.js';
import { encodeError } from '../../../src/transports/tcp/codec.js';
import { createTcpServer } from '../../../src/transports/tcp/server.js';
import { COMP, failure, NS, startServer, until } from './helpers.js';

const echo = async (b: unknown) => b;

/** A plain TCP listener that accepts and hands each socket to `onSocket`. */
async function rawServer(onSocket: (s: Socket) => void): Promise<{ server: Server; address: string }> {
  const server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `tcp://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('tcp client: connections', () => {
  it('shares one connection per address among all calls and endpoints', async () => {
    const { server, target } = await startServer({ a: echo, b: echo });
    const client = createTcpClient();
    try {
      await Promise.all([
        client.request(target('a'), 1),
        client.request(target('b'), 2),
        client.request(target('a'), 3),
      ]);
      await client.request(target('b'), 4);
      expect(client.connectionCount).toBe(1);
      expect(server.connectionCount).toBe(1);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('reports a refused dial as WARDEN_CONNECTION_FAILED', async () => {
    const { server, address } = await rawServer(() => {});
    await new Promise((resolve) => server.close(resolve));
    const client = createTcpClient();
    try {
      const err = await failure(
        client.request({ address, namespace: NS, component: COMP, endpoint: 'x' }, null),
      );
      expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
      expect(err.message).toMatch(/ECONNREFUSED/);
      expect(client.connectionCount).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('gives up dialling after connectTimeoutMs with WARDEN_CONNECTION_FAILED', async () => {
    // Accepts TCP but never answers the TLS handshake: the connection is never established.
    const held: Socket[] = [];
    const { server, address } = await rawServer((s) => {
      held.push(s);
    });
    const client = createTcpClient({ connectTimeoutMs: 50 });
    try {
      const t = {
        address: address.replace('tcp://', 'tls://'),
        namespace: NS,
        component: COMP,
        endpoint: 'x',
      };
      const err = await failure(client.request(t, null));
      expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
      expect(err.message).toMatch(/within 50 ms/);
      expect(client.connectionCount).toBe(0);
    } finally {
      await client.close();
      for (const s of held) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('ends every in-flight call with WARDEN_CONNECTION_CLOSED when the connection drops', async () => {
    // A peer that reads what arrives (HELLO and both pipelined requests) and then drops the connection.
    const { server, address } = await rawServer((s) => {
      s.once('data', () => setImmediate(() => s.destroy()));
    });
    const client = createTcpClient();
    try {
      const t = { address, namespace: NS, component: COMP, endpoint: 'x' };
      const results = await Promise.all([failure(client.request(t, 1)), failure(client.request(t, 2))]);
      expect(results.map((e) => e.code)).toEqual(['WARDEN_CONNECTION_CLOSED', 'WARDEN_CONNECTION_CLOSED']);
      await until(() => client.connectionCount === 0);
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("ends its calls with the code of a server's ERROR on stream 0, even if the server keeps the socket open", async () => {
    const held: Socket[] = [];
    const { server, address } = await rawServer((s) => {
      held.push(s);
      s.once('data', () => s.write(encodeError(0, 'WARDEN_PROTOCOL_ERROR', 'go away')));
    });
    const client = createTcpClient();
    try {
      const err = await failure(
        client.request({ address, namespace: NS, component: COMP, endpoint: 'x' }, 1),
      );
      expect(err.code).toBe('WARDEN_PROTOCOL_ERROR');
      expect(err.message).toBe('go away');
      await until(() => client.connectionCount === 0);
    } finally {
      await client.close();
      for (const s of held) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('dials again on the next call after the connection failed', async () => {
    const first = await startServer({ echo });
    const address = first.server.address();
    const { port } = new URL(address);
    const client = createTcpClient();
    const t = first.target('echo');
    try {
      expect(await client.request(t, 'one')).toBe('one');
      await first.server.stop();
      expect((await failure(client.request(t, 'two'))).code).toMatch(/WARDEN_CONNECTION_(CLOSED|FAILED)/);
      const second = createTcpServer({ port: Number(port) });
      await second.start();
      try {
        await second.registerEndpoint({
          namespace: NS,
          component: COMP,
          endpoint: 'echo',
          instanceId: first.instanceId,
          health: first.health,
          handler: echo,
        });
        expect(await client.request(t, 'three')).toBe('three');
        expect(client.connectionCount).toBe(1);
      } finally {
        await second.stop();
      }
    } finally {
      await client.close();
    }
  });

  it('close() ends in-flight calls and refuses later ones with WARDEN_CLIENT_CLOSED', async () => {
    let started = false;
    const { server, target } = await startServer({
      hang: () => {
        started = true;
        return new Promise(() => {});
      },
      echo,
    });
    const client = createTcpClient();
    try {
      const inflight = failure(client.request(target('hang'), null));
      await until(() => started);
      await client.close();
      expect((await inflight).code).toBe('WARDEN_CLIENT_CLOSED');
      expect((await failure(client.request(target('echo'), 1))).code).toBe('WARDEN_CLIENT_CLOSED');
      expect(client.connectionCount).toBe(0);
      await until(() => server.connectionCount === 0);
    } finally {
      await server.stop({ drainMs: 0 });
    }
  });

  it('refuses an address that is not tcp://host:port or tls://host:port', async () => {
    const client = createTcpClient();
    try {
      for (const address of ['http://127.0.0.1:80', 'tcp://127.0.0.1', 'tcp://127.0.0.1:0', 'nonsense']) {
        const err = await failure(
          client.request({ address, namespace: NS, component: COMP, endpoint: 'x' }, null),
        );
        expect(err.code).toBe('WARDEN_INVALID_OPTIONS');
      }
    } finally {
      await client.close();
    }
  });

  it('sends nothing for a call that is never iterated or is cancelled before it starts', async () => {
    const { server, target } = await startServer({ echo });
    const client = createTcpClient();
    try {
      client.call(target('echo'), 1);
      const controller = new AbortController();
      controller.abort();
      const err = await failure(client.request(target('echo'), 1, { signal: controller.signal }));
      expect(err.code).toBe('WARDEN_CANCELLED');
      expect(client.connectionCount).toBe(0);
      expect(server.endpoints()[0]?.requests).toBe(0);
    } finally {
      await client.close();
      await server.stop();
    }
  });
});
