/**
 * The TCP server at the byte level: raw sockets send malformed, truncated, oversized and
 * unauthenticated input; each bad connection is closed with a protocol error while the server stays
 * healthy and keeps serving other connections.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTcpClient } from '../../../src/transports/tcp/client.js';
import {
  type ErrorFrame,
  encodeCancel,
  encodeChunk,
  encodePing,
  encodeRequest,
  type Frame,
  FrameType,
  type RequestHead,
  UNLIMITED_WINDOW,
} from '../../../src/transports/tcp/codec.js';
import type { TcpServer } from '../../../src/transports/tcp/server.js';
import { COMP, failure, NS, RawPeer, startServer, until } from './helpers.js';

const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of opened.splice(0).reverse()) await o.close();
});

function head(over: Partial<RequestHead> = {}): RequestHead {
  return {
    deadline: 0,
    window: UNLIMITED_WINDOW,
    namespace: NS,
    component: COMP,
    endpoint: 'echo',
    instanceId: '',
    requestId: 'raw-1',
    headers: undefined,
    ...over,
  };
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const isError = (streamId: number) => (f: Frame) => f.type === FrameType.ERROR && f.streamId === streamId;

async function setup(options: Parameters<typeof startServer>[1] = {}) {
  const calls = { echo: 0 };
  const env = await startServer(
    {
      echo: async (body) => {
        calls.echo++;
        return body;
      },
    },
    options,
  );
  opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
  return { ...env, calls };
}

async function peer(address: string, hello?: string): Promise<RawPeer> {
  const p = hello === undefined ? await RawPeer.open(address) : await RawPeer.hello(address, hello);
  opened.push({ close: () => p.destroy() });
  return p;
}

/** The connection was closed with a protocol error on stream 0, and the server still serves. */
async function expectProtocolClose(p: RawPeer, server: TcpServer, message?: RegExp): Promise<void> {
  const err = (await p.waitFor(isError(0)).catch(() => undefined)) as ErrorFrame | undefined;
  await p.closed;
  expect(err?.code).toBe('WARDEN_PROTOCOL_ERROR');
  if (message) expect(err?.message).toMatch(message);
  expect(server.isHealthy()).toBe(true);
  const client = createTcpClient();
  try {
    expect(
      await client.request(
        { address: server.address(), namespace: NS, component: COMP, endpoint: 'echo' },
        'still here',
      ),
    ).toBe('still here');
  } finally {
    await client.close();
  }
}

/** Deterministic pseudo-random bytes (mulberry32). */
function randomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let a = seed;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

describe('tcp server: malformed input', () => {
  it.each([1, 2, 3, 4, 5])('closes a connection that sends random bytes (seed %i)', async (seed) => {
    const { server, calls } = await setup();
    const p = await peer(server.address());
    p.send(randomBytes(512, seed));
    p.socket.end();
    await expectProtocolClose(p, server);
    expect(calls.echo).toBe(1); // only the health check's call
  });

  it('closes a connection that speaks HTTP to it', async () => {
    const { server } = await setup();
    const p = await peer(server.address());
    p.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await expectProtocolClose(p, server, /reserved high bit|Unknown frame type|shorter/);
  });

  it('closes a connection whose frame is cut short by the end of the stream', async () => {
    const { server, calls } = await setup();
    const p = await peer(server.address(), '');
    const frame = encodeRequest(1, head(), 0, json({ a: 1 }));
    p.send(frame.subarray(0, 20));
    p.socket.end();
    await expectProtocolClose(p, server, /ended in the middle of a frame/);
    expect(calls.echo).toBe(1);
  });

  it('closes a connection that declares a 4 GiB frame, without allocating it', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    await p.waitFor((f) => f.type === FrameType.HELLO);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    const before = process.memoryUsage().arrayBuffers;
    p.send(Buffer.from('ffffffff' + '02' + '00' + '00000001', 'hex'));
    p.send(Buffer.alloc(64 * 1024));
    await expectProtocolClose(p, server, /reserved high bit/);
    expect(Math.max(0, ...spy.mock.calls.map((c) => c[0]))).toBeLessThan(1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('closes a connection that sends an unknown frame type', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    p.send(Buffer.from('00000006' + '63' + '00' + '00000001', 'hex'));
    await expectProtocolClose(p, server, /Unknown frame type 99/);
  });

  it('closes a connection whose REQUEST payload is garbage', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    p.send(Buffer.from('0000000c' + '02' + '00' + '00000001' + 'deadbeefcafe', 'hex'));
    await expectProtocolClose(p, server, /Truncated frame/);
  });

  it('closes a connection whose first frame is not HELLO, without calling a handler', async () => {
    const { server, calls } = await setup();
    const p = await peer(server.address());
    p.send(encodeRequest(1, head(), 0, json('x')));
    await expectProtocolClose(p, server, /Expected HELLO/);
    expect(calls.echo).toBe(1);
  });

  it('closes a connection that sends no HELLO in time', async () => {
    const { server } = await setup({ handshakeTimeoutMs: 30 });
    const p = await peer(server.address());
    await expectProtocolClose(p, server, /No HELLO frame arrived within 30 ms/);
  });

  it('closes a connection that reuses an open stream id', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const env = await startServer({ hang: () => gate.then(() => 'done'), echo: async (b) => b });
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const p = await peer(env.server.address(), '');
    p.send(encodeRequest(1, head({ endpoint: 'hang' }), 0, json(null)));
    p.send(encodeRequest(1, head({ endpoint: 'hang' }), 0, json(null)));
    await expectProtocolClose(p, env.server, /Stream 1 is already open/);
    release();
  });

  it('closes a connection of a client that sends CHUNK frames', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    p.send(encodeChunk(1, 0, json(1)));
    await expectProtocolClose(p, server, /must not send frame type 3/);
  });

  it('answers a REQUEST with a body that is not JSON on its stream and keeps the connection', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    p.send(encodeRequest(1, head(), 0, Buffer.from('{not json')));
    p.send(encodeRequest(3, head(), 0, json('fine')));
    const err = (await p.waitFor(isError(1))) as ErrorFrame;
    expect(err.code).toBe('WARDEN_PROTOCOL_ERROR');
    const chunk = await p.waitFor((f) => f.type === FrameType.CHUNK && f.streamId === 3);
    expect(chunk.type === FrameType.CHUNK && Buffer.from(chunk.body).toString()).toBe('"fine"');
    expect(p.socket.destroyed).toBe(false);
  });
});

describe('tcp server: limits on a connection', () => {
  it('answers an over-limit REQUEST with WARDEN_MESSAGE_TOO_LARGE on its stream, skips it and goes on', async () => {
    const { server, calls } = await setup({ maxMessageBytes: 64 * 1024 });
    const p = await peer(server.address(), '');
    const big = encodeRequest(1, head(), 1, Buffer.alloc(64 * 1024 + 1));
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    // Sent in pieces, as a real peer would: nothing of it is buffered.
    for (let off = 0; off < big.length; off += 10_000) p.send(big.subarray(off, off + 10_000));
    p.send(encodeRequest(3, head(), 0, json('after')));
    const err = (await p.waitFor(isError(1))) as ErrorFrame;
    expect(err.code).toBe('WARDEN_MESSAGE_TOO_LARGE');
    expect(err.message).toMatch(/accepts at most 65536/);
    const chunk = await p.waitFor((f) => f.type === FrameType.CHUNK && f.streamId === 3);
    expect(chunk.type === FrameType.CHUNK && chunk.last).toBe(true);
    expect(calls.echo).toBe(1);
    expect(Math.max(0, ...spy.mock.calls.map((c) => c[0]))).toBeLessThan(64 * 1024);
  });

  it('answers WARDEN_OVERLOADED past maxInFlightPerConnection and serves the others', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const env = await startServer(
      {
        hang: async () => {
          started++;
          await gate;
          return 'done';
        },
      },
      { maxInFlightPerConnection: 2 },
    );
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const p = await peer(env.server.address(), '');
    for (const id of [1, 3, 5]) p.send(encodeRequest(id, head({ endpoint: 'hang' }), 0, json(null)));
    const err = (await p.waitFor(isError(5))) as ErrorFrame;
    expect(err.code).toBe('WARDEN_OVERLOADED');
    expect(started).toBe(2);
    release();
    await p.waitFor((f) => f.type === FrameType.CHUNK && f.streamId === 1);
    await p.waitFor((f) => f.type === FrameType.CHUNK && f.streamId === 3);
  });

  it('cancels a stream on CANCEL: the handler aborts and the stream ends with WARDEN_CANCELLED', async () => {
    let signal: AbortSignal | undefined;
    const env = await startServer({
      hang: (_b, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const p = await peer(env.server.address(), '');
    p.send(encodeRequest(1, head({ endpoint: 'hang' }), 0, json(null)));
    await until(() => signal !== undefined);
    p.send(encodeCancel(1));
    const err = (await p.waitFor(isError(1))) as ErrorFrame;
    expect(err.code).toBe('WARDEN_CANCELLED');
    expect(signal?.aborted).toBe(true);
  });

  it('answers PING with PONG carrying the same bytes', async () => {
    const { server } = await setup();
    const p = await peer(server.address(), '');
    p.send(encodePing(Buffer.from('abcdefgh')));
    const pong = await p.waitFor((f) => f.type === FrameType.PONG);
    expect(pong.type === FrameType.PONG && Buffer.from(pong.data).toString()).toBe('abcdefgh');
  });

  it('pings a silent connection and drops it when it does not answer', async () => {
    const { server } = await setup({ keepaliveMs: 20 });
    const p = await peer(server.address(), '');
    await p.waitFor((f) => f.type === FrameType.PING);
    await p.closed;
    expect(server.connectionCount).toBe(0);
    expect(server.isHealthy()).toBe(true);
  });

  it('keeps a silent connection that answers pings', async () => {
    const { server } = await setup({ keepaliveMs: 15 });
    const p = await peer(server.address(), '');
    let pings = 0;
    p.socket.on('data', () => {
      for (const f of p.frames.splice(0)) {
        if (f.type === FrameType.PING) {
          pings++;
          p.send(encodePing(f.data, true));
        }
      }
    });
    await until(() => pings >= 4);
    expect(p.socket.destroyed).toBe(false);
    expect(server.connectionCount).toBe(1);
  });
});

describe('tcp server: token', () => {
  const token = 'correct horse battery staple';

  it.each([
    ['a wrong token', 'wrong'],
    ['no token', ''],
  ])('closes a connection with %s and never calls a handler', async (_name, sent) => {
    const { server, calls } = await setup({ token });
    const p = await peer(server.address(), sent);
    // Pipelined right behind the HELLO, as the client does: must not reach the handler.
    p.send(encodeRequest(1, head(), 0, json('sneaky')));
    const err = (await p.waitFor(isError(0))) as ErrorFrame;
    await p.closed;
    expect(err.code).toBe('WARDEN_UNAUTHORIZED');
    expect(p.frames.some((f) => f.streamId === 1)).toBe(false);
    expect(calls.echo).toBe(0);
    expect(server.isHealthy()).toBe(true);
  });

  it('serves a connection with the right token; the client reports a wrong one as WARDEN_UNAUTHORIZED', async () => {
    const { server, target, calls } = await setup({ token });
    const good = createTcpClient({ token });
    const bad = createTcpClient({ token: 'nope' });
    const none = createTcpClient();
    opened.push(good, bad, none);
    expect(await good.request(target('echo'), 'hi')).toBe('hi');
    expect((await failure(bad.request(target('echo'), 'hi'))).code).toBe('WARDEN_UNAUTHORIZED');
    expect((await failure(none.request(target('echo'), 'hi'))).code).toBe('WARDEN_UNAUTHORIZED');
    expect(calls.echo).toBe(1);
    await until(() => server.connectionCount === 1);
  });
});
