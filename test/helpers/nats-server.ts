/**
 * Starts a real `nats-server` for tests on a free loopback port, and stops or restarts it on the
 * same port. Every server started here is killed when the test process exits, so a failed test
 * never leaves one behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A running `nats-server` started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts the server again on the same port (and the same JetStream store directory). */
  restart(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 5000;
const live = new Set<ChildProcess>();
const storeDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of storeDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** The path of `nats-server` on PATH, or undefined. */
function findBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Binds port 0 on loopback, reads the port the kernel picked, and releases it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `nats-server -a 127.0.0.1 -p PORT` (with `-js -sd <tmpdir>` when `jetstream` is set) on a
 * free port and resolves once the port accepts connections (at most ~5 s).
 * Throws a clear error when `nats-server` is not installed.
 *
 * @example
 * ```ts
 * const nats = await startNatsServer();
 * const nc = await connect({ servers: nats.url });
 * await nats.stop();
 * await nats.restart(); // same port
 * ```
 */
export async function startNatsServer(opts: { jetstream?: boolean } = {}): Promise<NatsServerHandle> {
  const binary = findBinary();
  if (!binary) {
    throw new Error(
      'nats-server is not installed: run `apt-get install -y nats-server` (Debian) — the NATS tests need a real server',
    );
  }
  installExitHook();
  const port = await freePort();
  const args = ['-a', HOST, '-p', String(port)];
  if (opts.jetstream) {
    const dir = mkdtempSync(join(tmpdir(), 'warden-nats-js-'));
    storeDirs.add(dir);
    args.push('-js', '-sd', dir);
  }
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    live.add(proc);
    let stderr = '';
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (text: string) => {
      if (stderr.length < 8192) stderr += text;
    });
    proc.once('exit', () => live.delete(proc));
    const until = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < until) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`nats-server exited before it was ready (port ${port}):\n${stderr.trim()}`);
      }
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    proc.kill('SIGKILL');
    await waitExit(proc);
    throw new Error(
      `nats-server did not accept connections on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms`,
    );
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      const killer = setTimeout(() => proc.kill('SIGKILL'), 2000);
      proc.kill('SIGTERM');
      await waitExit(proc);
      clearTimeout(killer);
    }
  };

  await launch();
  return {
    url: `nats://${HOST}:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}
