/**
 * Back-pressure: a reader that stops reading pauses the handler's iteration instead of growing
 * memory — per call through flow-control credit (other calls on the same connection go on), and
 * per connection through socket writes for a peer that turned flow control off.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EndpointHandler } from '../../../src/core/request-plane.js';
import { createTcpClient } from '../../../src/transports/tcp/client.js';
import {
  encodePing,
  encodeRequest,
  encodeWindow,
  type Frame,
  FrameType,
  type RequestHead,
  UNLIMITED_WINDOW,
} from '../../../src/transports/tcp/codec.js';
import { COMP, NS, RawPeer, settled, startServer, until } from './helpers.js';

const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/** A handler that yields `total` chunks of `size` bytes and counts what it produced. */
function producer(total: number, size: number) {
  const state = { produced: 0, finished: false, aborted: false, reason: undefined as string | undefined };
  const handler: EndpointHandler = async function* (_body, ctx) {
    ctx.signal.addEventListener('abort', () => {
      state.aborted = true;
      state.reason = (ctx.signal.reason as { code?: string } | undefined)?.code;
    });
    try {
      for (let i = 0; i < total; i++) {
        const chunk = new Uint8Array(size);
        chunk[0] = i & 0xff;
        state.produced++;
        yield chunk;
      }
    } finally {
      state.finished = true;
    }
  };
  return { state, handler };
}

const head = (endpoint: string, window: number): RequestHead => ({
  deadline: 0,
  window,
  namespace: NS,
  component: COMP,
  endpoint,
  instanceId: '',
  requestId: 'raw',
  headers: undefined,
});

/** A PING round trip: everything the server had queued before answering has arrived. */
async function roundTrip(peer: RawPeer, n: number): Promise<void> {
  const data = Buffer.alloc(8);
  data.writeUInt32BE(n, 4);
  peer.send(encodePing(data));
  await peer.waitFor((f) => f.type === FrameType.PONG && Buffer.from(f.data).readUInt32BE(4) === n);
}

describe('tcp back-pressure', () => {
  it('sends CHUNKs only while the stream has credit, and more after WINDOW', async () => {
    const { state, handler } = producer(5, 10);
    const env = await startServer({ five: handler });
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const peer = await RawPeer.hello(env.server.address());
    opened.push({ close: () => peer.destroy() });
    const chunks = (): Frame[] => peer.frames.filter((f) => f.type === FrameType.CHUNK);
    peer.send(encodeRequest(1, head('five', 0), 0, Buffer.from('null')));
    await roundTrip(peer, 1);
    await roundTrip(peer, 2);
    expect(chunks()).toHaveLength(0);
    expect(state.produced).toBeLessThanOrEqual(1);

    peer.send(encodeWindow(1, 1)); // one byte of credit: one whole chunk may go, then the stream waits
    await peer.waitFor((f) => f.type === FrameType.CHUNK);
    await roundTrip(peer, 3);
    expect(chunks()).toHaveLength(1);

    peer.send(encodeWindow(1, 10_000));
    await peer.waitFor((f) => (f.type === FrameType.CHUNK && f.last) || f.type === FrameType.END);
    expect(chunks()).toHaveLength(5);
    expect(state.finished).toBe(true);
  });

  it('pauses the handler of a call whose reader stops, within the stream window, and resumes it', async () => {
    const chunk = 16 * 1024;
    const window = 256 * 1024;
    const { state, handler } = producer(2000, chunk);
    const env = await startServer({ flood: handler, echo: async (b) => b });
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const client = createTcpClient({ streamWindowBytes: window });
    opened.push(client);

    const iterator = client.call(env.target('flood'), null)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect((first.value as Uint8Array)[0]).toBe(0);
    const paused = await settled(() => state.produced);
    // The window is 16 chunks of credit; the server may overdraw it by one frame, plus the one the
    // registry pulled before awaiting the sink and the one the reader took.
    expect(paused).toBeLessThanOrEqual(window / chunk + 3);
    expect(state.finished).toBe(false);

    // Other calls on the same connection are not held up by the stalled one.
    expect(await client.request(env.target('echo'), 'not blocked')).toBe('not blocked');
    expect(client.connectionCount).toBe(1);

    let count = 1;
    for (;;) {
      const step = await iterator.next();
      if (step.done) break;
      expect((step.value as Uint8Array)[0]).toBe(count & 0xff);
      count++;
    }
    expect(count).toBe(2000);
    expect(state.finished).toBe(true);
  });

  it('pauses the handler when the socket backs up for a peer that turned flow control off', async () => {
    const chunk = 64 * 1024;
    const total = 5000; // 320 MiB if nothing held it back
    const { state, handler } = producer(total, chunk);
    const env = await startServer({ flood: handler });
    opened.push({ close: () => env.server.stop({ drainMs: 0 }) });
    const peer = await RawPeer.hello(env.server.address());
    opened.push({ close: () => peer.destroy() });
    await peer.waitFor((f) => f.type === FrameType.HELLO);
    peer.socket.pause(); // stop reading: only the kernel's buffers and the socket's high-water mark remain
    peer.send(
      encodeRequest(
        1,
        {
          deadline: 0,
          window: UNLIMITED_WINDOW,
          namespace: NS,
          component: COMP,
          endpoint: 'flood',
          instanceId: '',
          requestId: 'raw',
          headers: undefined,
        },
        0,
        Buffer.from('null'),
      ),
    );
    await until(() => state.produced > 0);
    const paused = await settled(() => state.produced);
    expect(paused).toBeLessThan(total / 10);
    expect(state.finished).toBe(false);

    // The peer goes away while the handler waits on back-pressure: the handler is aborted and its
    // generator is closed (the pending write settled).
    peer.destroy();
    await until(() => state.finished);
    expect(state.aborted).toBe(true);
    expect(state.reason).toBe('WARDEN_CONNECTION_CLOSED');
    expect(state.produced).toBeLessThan(total / 10);
    await until(() => env.server.connectionCount === 0);
    expect(env.server.endpoints()[0]?.inflight).toBe(0);
  });

  it('stop() ends a call that is paused by back-pressure', async () => {
    const { state, handler } = producer(100_000, 16 * 1024);
    const env = await startServer({ flood: handler });
    const client = createTcpClient({ streamWindowBytes: 64 * 1024 });
    opened.push(client);
    const iterator = client.call(env.target('flood'), null)[Symbol.asyncIterator]();
    await iterator.next();
    await settled(() => state.produced);
    await env.server.stop({ drainMs: 10 });
    expect(env.server.state).toBe('stopped');
    await until(() => state.finished);
    expect(state.aborted).toBe(true);
    expect(state.reason).toBe('WARDEN_ENDPOINT_DRAINING');
  });
});
