/**
 * Shared set-up of the TCP transport tests: a server with endpoints on 127.0.0.1:0, a raw socket
 * that speaks frames (for protocol-level cases), and small waiting helpers. Everything opened here
 * is closed by the test that opened it.
 */
import { connect, type Socket } from 'node:net';
import { isWardenError, type WardenError } from '../../../src/core/errors.js';
import { SystemHealth } from '../../../src/core/health.js';
import { type CallTarget, type EndpointHandler, newInstanceId } from '../../../src/core/request-plane.js';
import { encodeHello, type Frame } from '../../../src/transports/tcp/codec.js';
import { FrameDecoder } from '../../../src/transports/tcp/decoder.js';
import type { TcpServerOptions } from '../../../src/transports/tcp/options.js';
import { createTcpServer, type TcpServer } from '../../../src/transports/tcp/server.js';

export const NS = 'test';
export const COMP = 'tcp';

/** A started server with the given endpoints registered under `test/tcp/<name>`. */
export async function startServer(
  handlers: Record<string, EndpointHandler>,
  options: TcpServerOptions = {},
): Promise<{
  server: TcpServer;
  health: SystemHealth;
  instanceId: string;
  target: (endpoint: string) => CallTarget;
}> {
  const server = createTcpServer(options);
  await server.start();
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  for (const [endpoint, handler] of Object.entries(handlers)) {
    await server.registerEndpoint({ namespace: NS, component: COMP, endpoint, handler, instanceId, health });
  }
  const target = (endpoint: string): CallTarget => ({
    address: server.address(),
    namespace: NS,
    component: COMP,
    endpoint,
  });
  return { server, health, instanceId, target };
}

/** Host and port of a `tcp://host:port` address. */
export function hostPort(address: string): { host: string; port: number } {
  const url = new URL(address);
  return { host: url.hostname, port: Number(url.port) };
}

/** A raw socket to the server that collects the frames it receives. */
export class RawPeer {
  readonly frames: Frame[] = [];
  decodeError: WardenError | undefined;
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder({
      frame: (f) => {
        this.frames.push(f);
        this.notify();
      },
      oversized: () => {},
    });
    socket.on('data', (bytes: Buffer) => {
      this.decodeError ??= decoder.push(bytes);
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.notify());
  }

  static async open(address: string): Promise<RawPeer> {
    const { host, port } = hostPort(address);
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  /** Opens a socket and sends HELLO (with `token` when given). */
  static async hello(address: string, token = ''): Promise<RawPeer> {
    const peer = await RawPeer.open(address);
    peer.send(encodeHello(16 * 1024 * 1024, token));
    return peer;
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Resolves with the first received frame matching `pred` (bounded by the test timeout). */
  async waitFor(pred: (f: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const found = this.frames.find(pred);
      if (found) return found;
      if (this.socket.destroyed) throw new Error('the connection closed before the frame arrived');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The WardenError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function failure(promise: Promise<unknown>): Promise<WardenError> {
  try {
    await promise;
  } catch (err) {
    if (isWardenError(err)) return err;
    throw err;
  }
  throw new Error('expected a WardenError, but the promise resolved');
}

/** Resolves once `check()` is true, polling each macrotask turn (bounded by the test timeout). */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2));
}

/**
 * Resolves once `read()` has returned the same value for `turns` consecutive polls `everyMs` apart:
 * the quantity has stopped growing. Used to observe that a paused producer stays paused.
 */
export async function settled(read: () => number, turns = 10, everyMs = 10): Promise<number> {
  let last = read();
  let same = 0;
  while (same < turns) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}
