/**
 * The request plane over TCP versus a bare `node:net` length-prefixed echo, in the same run.
 *
 * Each server runs in its own child process (this file, forked with `--serve warden|bare`); the
 * clients run here. Scenarios: unary echo of 64 B and 16 KiB raw bodies at concurrency 1 and 64,
 * a stream of 1,000 64-byte chunks at concurrency 1, and 64 B at concurrency 64 against the
 * coalescing bare client. For each: requests (or streams) per second
 * and p50/p99 latency for warden and for the baseline, and warden's ratio to the baseline.
 *
 * Run:   npx tsx bench/request-plane-tcp.ts
 * Flags: --seconds <s>   measuring time per scenario and contender (default 3.5), split into
 *                        --rounds <k> interleaved rounds (default 7)
 *        --only <name>   run only the scenarios whose name contains <name>
 *
 * Each figure is the median over the rounds (each metric on its own); the ratio of the best round of
 * each side is printed beside it. Rounds alternate bare, warden, bare, warden, … so that a change in
 * the machine's load hits both sides alike; a median does not reward one lucky round.
 *
 * The baseline is a plain node:net client and echo server: the client writes each request as it is
 * made (as DESIGN.md's measured baseline does); the server echoes views of what it read and writes
 * the answers to one read together, small frames as one buffer and large bodies (≥ 4 KiB) uncopied
 * with writev; both split frames as warden does (a frame split across reads is copied once, not
 * re-joined per read, which made the old baseline slow at 16 KiB). The last scenario compares with
 * a bare client that also coalesces the requests of one tick into one write, as warden's client
 * does: the ceiling of node:net, shown for information (no target).
 *
 * Targets: throughput at concurrency 64 ≥ 0.7× the baseline; p99 at concurrency 1 ≤ 1.5× the baseline.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SystemHealth } from '../src/core/health.js';
import { type CallTarget, newInstanceId } from '../src/core/request-plane.js';
import { createTcpClient } from '../src/transports/tcp/client.js';
import { createTcpServer } from '../src/transports/tcp/server.js';
import { drive, median } from './lib/measure.js';

const STREAM_CHUNKS = 1000;
const STREAM_CHUNK_BYTES = 64;

// ---------------------------------------------------------------- servers (child processes)

/** Bodies from this size on are written uncopied (as warden's TCP transport does). */
const LARGE_BYTES = 4096;

/**
 * Splits `u32 length | payload` frames out of a byte stream: complete frames are handed on as views
 * of the bytes read; a frame split across reads is joined once, when all of it is there.
 */
function frameSplitter(onFrame: (buf: Buffer, start: number, end: number) => void): (chunk: Buffer) => void {
  let parts: Buffer[] = [];
  let have = 0;
  let need = 0;
  const scan = (buf: Buffer): void => {
    let off = 0;
    while (buf.length - off >= 4) {
      const end = off + 4 + buf.readUInt32BE(off);
      if (end > buf.length) break;
      onFrame(buf, off, end);
      off = end;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      parts = [rest];
      have = rest.length;
      need = have >= 4 ? 4 + rest.readUInt32BE(0) : 0;
    }
  };
  return (chunk) => {
    if (have === 0) {
      scan(chunk);
      return;
    }
    parts.push(chunk);
    have += chunk.length;
    if (need === 0 && have >= 4) {
      const joined = Buffer.concat(parts, have);
      parts = [joined];
      need = 4 + joined.readUInt32BE(0);
    }
    if (need === 0 || have < need) return;
    const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
    parts = [];
    have = 0;
    need = 0;
    scan(buf);
  };
}

/** Writes frames: one copied buffer when all are small, else uncopied with cork/writev. */
function writeFrames(socket: Socket, out: Buffer[], bytes: number, large: boolean): void {
  if (out.length === 1) socket.write(out[0] as Buffer);
  else if (!large) socket.write(Buffer.concat(out, bytes));
  else {
    socket.cork();
    for (const b of out) socket.write(b);
    socket.uncork();
  }
}

/** Bare protocol: u32 length | u8 op | payload. op 1 echo → op 1; op 2 stream → n × op 3, then op 4. */
function serveBare(): Promise<string> {
  const server = createServer({ noDelay: true }, (socket) => {
    let out: Buffer[] = [];
    let bytes = 0;
    let large = false;
    const push = frameSplitter((buf, start, end) => {
      const op = buf[start + 4];
      if (op === 1) {
        out.push(buf.subarray(start, end));
        bytes += end - start;
        if (end - start >= LARGE_BYTES) large = true;
      } else if (op === 2) {
        const n = buf.readUInt32BE(start + 5);
        const size = buf.readUInt32BE(start + 9);
        for (let i = 0; i < n; i++) {
          const f = Buffer.allocUnsafe(5 + size).fill(0);
          f.writeUInt32BE(1 + size, 0);
          f[4] = 3;
          out.push(f);
          bytes += f.length;
        }
        const fin = Buffer.alloc(5);
        fin.writeUInt32BE(1, 0);
        fin[4] = 4;
        out.push(fin);
        bytes += 5;
      }
    });
    socket.on('data', (chunk: Buffer) => {
      push(chunk);
      if (out.length === 0) return;
      writeFrames(socket, out, bytes, large);
      out = [];
      bytes = 0;
      large = false;
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address() as { port: number };
      resolve(`tcp://127.0.0.1:${a.port}`);
    });
  });
}

async function serveWarden(): Promise<string> {
  const server = createTcpServer();
  await server.start();
  const health = new SystemHealth();
  const instanceId = newInstanceId();
  const reg = { namespace: 'bench', component: 'tcp', instanceId, health } as const;
  await server.registerEndpoint({ ...reg, endpoint: 'echo', handler: async (body) => body });
  const chunk = new Uint8Array(STREAM_CHUNK_BYTES);
  await server.registerEndpoint({
    ...reg,
    endpoint: 'stream',
    handler: async function* (body) {
      const n = body as number;
      for (let i = 0; i < n; i++) yield chunk;
    },
  });
  return server.address();
}

// ---------------------------------------------------------------- clients

interface Contender {
  /** One unary call with `body`; resolves when the response arrived. */
  unary(body: Uint8Array): Promise<void>;
  /** One stream of `STREAM_CHUNKS` chunks; resolves after the last. */
  stream(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The bare client. It writes each request as it is made, as a plain node:net client does (the
 * baseline the targets refer to). With `coalesce`, it also writes the requests of one tick
 * together, as warden's own client does: the ceiling of what node:net can do, for comparison.
 */
function bareClient(address: string, coalesce = false): Promise<Contender> {
  const { port } = new URL(address);
  const socket: Socket = connect({ host: '127.0.0.1', port: Number(port), noDelay: true });
  // Responses come back in request order: a FIFO of waiters is the whole correlation.
  const waiters: Array<{ chunks: number; resolve: () => void }> = [];
  socket.on(
    'data',
    frameSplitter((buf, start) => {
      const op = buf[start + 4];
      if (op === 3) (waiters[0] as { chunks: number }).chunks++;
      else (waiters.shift() as { resolve: () => void }).resolve();
    }),
  );
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const request = (head: Buffer, body?: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      waiters.push({ chunks: 0, resolve });
      if (coalesce) {
        // As warden's client: the requests of one tick leave in one write (corked until the tick ends).
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(uncork);
        }
        socket.write(head);
        if (body !== undefined) socket.write(body);
      } else if (body === undefined) {
        socket.write(head);
      } else {
        socket.cork();
        socket.write(head);
        socket.write(body);
        socket.uncork();
      }
    });
  const streamFrame = Buffer.alloc(13);
  streamFrame.writeUInt32BE(9, 0);
  streamFrame[4] = 2;
  streamFrame.writeUInt32BE(STREAM_CHUNKS, 5);
  streamFrame.writeUInt32BE(STREAM_CHUNK_BYTES, 9);
  const contender: Contender = {
    unary: (body) => {
      // As warden's client: a small body is copied into the frame, a large one follows it uncopied.
      if (body.length >= LARGE_BYTES) {
        const head = Buffer.allocUnsafe(5);
        head.writeUInt32BE(1 + body.length, 0);
        head[4] = 1;
        return request(head, body);
      }
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame.writeUInt32BE(1 + body.length, 0);
      frame[4] = 1;
      frame.set(body, 5);
      return request(frame);
    },
    stream: () => request(streamFrame),
    close: async () => {
      socket.destroy();
    },
  };
  return new Promise((resolve) => socket.once('connect', () => resolve(contender)));
}

async function wardenClient(address: string): Promise<Contender> {
  const client = createTcpClient();
  const target = (endpoint: string): CallTarget => ({
    address,
    namespace: 'bench',
    component: 'tcp',
    endpoint,
  });
  const echo = target('echo');
  const stream = target('stream');
  await client.request(echo, new Uint8Array(1));
  return {
    unary: async (body) => {
      await client.request(echo, body);
    },
    stream: async () => {
      let n = 0;
      for await (const _ of client.call(stream, STREAM_CHUNKS)) n++;
      if (n !== STREAM_CHUNKS) throw new Error(`expected ${STREAM_CHUNKS} chunks, got ${n}`);
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------- measurement

interface Result {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU time per call in the client process and in the server process, µs (robust to a busy machine). */
  readonly clientCpu: number;
  readonly serverCpu: number;
}

interface Server {
  readonly child: ChildProcess;
  readonly address: string;
  /** The server process's CPU time so far, µs (user + system). */
  cpu(): Promise<number>;
}

/** One measured round: `ms` of calls after nothing else, CPU read on both sides around it. */
async function round(
  run: () => Promise<void>,
  concurrency: number,
  ms: number,
  server: Server,
): Promise<Result> {
  const serverBefore = await server.cpu();
  const clientBefore = process.cpuUsage();
  const t0 = performance.now();
  const latencies = await drive(run, concurrency, ms);
  const elapsed = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(clientBefore);
  const serverCpu = (await server.cpu()) - serverBefore;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const n = latencies.length;
  return {
    perSecond: n / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    clientCpu: (client.user + client.system) / n,
    serverCpu: serverCpu / n,
  };
}

/** Each metric's median over the rounds. */
function medianOf(rounds: readonly Result[]): Result {
  return {
    perSecond: median(rounds.map((r) => r.perSecond)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    clientCpu: median(rounds.map((r) => r.clientCpu)),
    serverCpu: median(rounds.map((r) => r.serverCpu)),
  };
}

/** The round with the highest throughput. */
function bestOf(rounds: readonly Result[]): Result {
  return rounds.reduce((a, r) => (r.perSecond > a.perSecond ? r : a));
}

interface Compared {
  readonly bare: Result;
  readonly warden: Result;
  /** Each side's best round (highest throughput). */
  readonly bestBare: Result;
  readonly bestWarden: Result;
}

/**
 * Measures both contenders in interleaved rounds (bare, warden, bare, warden, …) after a warm-up,
 * and reports each metric's median over the rounds, and each side's best round beside it.
 */
async function compare(
  scenario: { concurrency: number; run: (c: Contender) => Promise<void> },
  contenders: { bare: [Contender, Server]; warden: [Contender, Server] },
  seconds: number,
  rounds: number,
): Promise<Compared> {
  const ms = (seconds * 1000) / rounds;
  const all: { bare: Result[]; warden: Result[] } = { bare: [], warden: [] };
  for (const name of ['bare', 'warden'] as const) {
    const [contender] = contenders[name];
    await drive(() => scenario.run(contender), scenario.concurrency, Math.min(500, ms));
  }
  for (let i = 0; i < rounds; i++) {
    for (const name of ['bare', 'warden'] as const) {
      const [contender, server] = contenders[name];
      all[name].push(await round(() => scenario.run(contender), scenario.concurrency, ms, server));
    }
  }
  return {
    bare: medianOf(all.bare),
    warden: medianOf(all.warden),
    bestBare: bestOf(all.bare),
    bestWarden: bestOf(all.warden),
  };
}

function spawnServer(kind: 'warden' | 'bare'): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const cpu = (): Promise<number> =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(Number(m)));
      child.send('cpu');
    });
  return new Promise((resolve, reject) => {
    child.once('message', (address) => resolve({ child, address: String(address), cpu }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

const fmt = (n: number, d = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
    : '—';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      seconds: { type: 'string', default: '3.5' },
      rounds: { type: 'string', default: '7' },
      only: { type: 'string' },
    },
  });
  if (values.serve) {
    const address = values.serve === 'bare' ? await serveBare() : await serveWarden();
    process.on('message', () => {
      const { user, system } = process.cpuUsage();
      process.send?.(user + system);
    });
    process.send?.(address);
    process.on('disconnect', () => process.exit(0));
    return;
  }
  const seconds = Number(values.seconds);
  const rounds = Math.max(1, Number(values.rounds));
  const small = new Uint8Array(64).fill(7);
  const large = new Uint8Array(16 * 1024).fill(7);
  interface Scenario {
    name: string;
    concurrency: number;
    run: (c: Contender) => Promise<void>;
    unit: string;
    /** Compare with the bare client that coalesces its writes (for information; no target). */
    coalesced?: boolean;
  }
  const all: Scenario[] = [
    { name: 'unary 64 B, c=1', concurrency: 1, run: (c) => c.unary(small), unit: 'req/s' },
    { name: 'unary 64 B, c=64', concurrency: 64, run: (c) => c.unary(small), unit: 'req/s' },
    { name: 'unary 16 KiB, c=1', concurrency: 1, run: (c) => c.unary(large), unit: 'req/s' },
    { name: 'unary 16 KiB, c=64', concurrency: 64, run: (c) => c.unary(large), unit: 'req/s' },
    {
      name: `stream ${STREAM_CHUNKS}×${STREAM_CHUNK_BYTES} B, c=1`,
      concurrency: 1,
      run: (c) => c.stream(),
      unit: 'streams/s',
    },
    {
      name: 'unary 64 B, c=64, vs coalescing bare',
      concurrency: 64,
      run: (c) => c.unary(small),
      unit: 'req/s',
      coalesced: true,
    },
  ];
  const scenarios = all.filter((s) => !values.only || s.name.includes(values.only));

  const wardenServer = await spawnServer('warden');
  const bareServer = await spawnServer('bare');
  const warden = await wardenClient(wardenServer.address);
  const bare = await bareClient(bareServer.address);
  const bareCoalesced = await bareClient(bareServer.address, true);
  const rows: string[][] = [];
  const verdicts: string[] = [];
  try {
    for (const s of scenarios) {
      const {
        bare: b,
        warden: w,
        bestBare,
        bestWarden,
      } = await compare(
        s,
        { bare: [s.coalesced ? bareCoalesced : bare, bareServer], warden: [warden, wardenServer] },
        seconds,
        rounds,
      );
      const ratio = w.perSecond / b.perSecond;
      const p99Ratio = w.p99 / b.p99;
      rows.push([
        s.name,
        `${fmt(w.perSecond)} ${s.unit}`,
        `${fmt(b.perSecond)} ${s.unit}`,
        `${ratio.toFixed(2)}×`,
        `${(bestWarden.perSecond / bestBare.perSecond).toFixed(2)}×`,
        `${fmt(w.p50, 3)} / ${fmt(w.p99, 3)}`,
        `${fmt(b.p50, 3)} / ${fmt(b.p99, 3)}`,
        `${p99Ratio.toFixed(2)}×`,
        `${fmt(w.clientCpu, 1)} + ${fmt(w.serverCpu, 1)}`,
        `${fmt(b.clientCpu, 1)} + ${fmt(b.serverCpu, 1)}`,
      ]);
      if (s.concurrency === 64 && !s.coalesced) {
        verdicts.push(
          `${s.name}: throughput ${ratio.toFixed(2)}× baseline (target ≥ 0.70) ${ratio >= 0.7 ? 'ok' : 'MISSED'}`,
        );
      }
      if (s.concurrency === 1 && s.name.startsWith('unary')) {
        verdicts.push(
          `${s.name}: p99 ${p99Ratio.toFixed(2)}× baseline (target ≤ 1.50) ${p99Ratio <= 1.5 ? 'ok' : 'MISSED'}`,
        );
      }
    }
  } finally {
    await warden.close();
    await bare.close();
    await bareCoalesced.close();
    wardenServer.child.disconnect();
    bareServer.child.disconnect();
  }
  const headers = [
    'scenario',
    'warden',
    'bare node:net',
    'ratio',
    'best/best',
    'warden p50/p99 ms',
    'bare p50/p99 ms',
    'p99 ratio',
    'warden CPU µs/call',
    'bare CPU µs/call',
  ];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const [load1] = loadavg();
  console.log(
    `request plane over TCP vs bare node:net (servers in child processes, medians of ${rounds} interleaved rounds of ${fmt((seconds * 1000) / rounds)} ms, Node ${process.version}, ${cpus().length} CPUs, load ${load1?.toFixed(1)})\n`,
  );
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log("\nEach figure is the median of its rounds; best/best is the ratio of each side's best round.");
  console.log(
    'The bare client writes each request as it is made; in the last row it writes the requests of one tick',
  );
  console.log("together, as warden's client does (no target: it shows what node:net itself can do).");
  console.log('CPU µs/call is client + server process time per call (user + system): the figure that a busy');
  console.log('machine distorts least. Throughput and latency need an otherwise idle machine.');
  console.log(`\n${verdicts.join('\n')}`);
}

await main();
