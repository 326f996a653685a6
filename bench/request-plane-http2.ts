/**
 * HTTP/2 request plane vs a bare `node:http2` echo server, both in child processes, in one run.
 *
 *   npx tsx bench/request-plane-http2.ts
 *
 * Node client: unary echo of 64 B and 16 KiB JSON bodies at concurrency 1 and 64 (warden client →
 * warden server; bare `node:http2` client → bare server), and a 1,000-chunk stream. Then h2load
 * (nghttp2-client) drives both servers, because the Node client is the bottleneck.
 *
 * The baseline does the same job as warden, by hand: its client encodes each body as JSON and
 * parses the response, its server parses the request body and answers the value as JSON (a JSON
 * echo endpoint; the stream endpoint writes NDJSON). Without that, a 16 KiB JSON string would be
 * parsed and encoded four times per call on warden's side and never on the baseline's.
 *
 * The machine is shared and noisy, so rounds alternate between warden and the baseline (ROUNDS
 * each), and every figure is the median over its rounds (each metric on its own); the ratio of
 * each side's best round is printed beside it. Each server's CPU time per request is read from
 * /proc.
 * Environment: BENCH_ROUND_MS (default 500), BENCH_ROUNDS (7), BENCH_H2LOAD_N (10000).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SystemHealth } from '../src/core/health.js';
import { newInstanceId } from '../src/core/request-plane.js';
import { createHttp2Client, createHttp2Server } from '../src/transports/http2/index.js';
import { median } from './lib/measure.js';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const WARMUP_MS = 400;
const STREAM_CHUNKS = 1000;
const H2LOAD_REQUESTS = Number(process.env.BENCH_H2LOAD_N ?? 10000);

// ---------------------------------------------------------------- servers (child processes)

async function serveWarden(): Promise<string> {
  const server = createHttp2Server();
  await server.start();
  const reg = {
    namespace: 'bench',
    component: 'echo',
    instanceId: newInstanceId(),
    health: new SystemHealth(),
  };
  await server.registerEndpoint({ ...reg, endpoint: 'echo', handler: async (body) => body });
  await server.registerEndpoint({
    ...reg,
    endpoint: 'stream',
    handler: async function* () {
      for (let i = 0; i < STREAM_CHUNKS; i++) yield { i };
    },
  });
  return server.address();
}

async function serveBare(): Promise<string> {
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('error', () => {});
    stream.on('end', () => {
      const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      // A JSON endpoint parses its request and encodes its answer, as warden's server does.
      const value: unknown = body.length === 0 ? null : JSON.parse(body.toString());
      if (headers[':path'] === '/stream') {
        stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
        for (let i = 0; i < STREAM_CHUNKS; i++) stream.write(`${JSON.stringify({ i })}\n`);
        stream.end();
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify(value));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

interface Child {
  readonly process: ChildProcess;
  readonly address: string;
}

function startChild(kind: 'warden' | 'bare'): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', kind],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const newline = out.indexOf('\n');
      if (newline > 0) resolve({ process: child, address: out.slice(0, newline).trim() });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited early (${code})`)));
  });
}

/** CPU time (user + system) of a process in µs, from /proc; NaN where there is no /proc. */
function cpuMicros(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // clock ticks of 10 ms
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------- load generation

interface Round {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  serverCpu: number;
}

interface Figures extends Round {
  /** Server CPU µs per request, the median of the rounds. */
  cpuPerRequest: number;
  /** Requests per second of the best round. */
  bestRps: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Runs `once` from `concurrency` loops for `ms`; latency of each call in ms. */
async function round(
  concurrency: number,
  once: () => Promise<void>,
  ms: number,
  pid?: number,
): Promise<Round> {
  const latencies: number[] = [];
  const cpu0 = cpuMicros(pid);
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await once();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps: (latencies.length / elapsed) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    requests: latencies.length,
    serverCpu: cpuMicros(pid) - cpu0,
  };
}

/** Warms both sides up, then alternates ROUNDS rounds of each; each metric's median is reported. */
async function compare(
  concurrency: number,
  warden: () => Promise<void>,
  bare: () => Promise<void>,
  pids: { warden?: number | undefined; bare?: number | undefined },
): Promise<[Figures, Figures]> {
  await round(concurrency, warden, WARMUP_MS);
  await round(concurrency, bare, WARMUP_MS);
  const w: Round[] = [];
  const b: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    w.push(await round(concurrency, warden, ROUND_MS, pids.warden));
    b.push(await round(concurrency, bare, ROUND_MS, pids.bare));
  }
  return [summary(w), summary(b)];
}

function summary(rounds: Round[]): Figures {
  const m = (f: (r: Round) => number) => median(rounds.map(f));
  return {
    rps: m((r) => r.rps),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    requests: m((r) => r.requests),
    serverCpu: m((r) => r.serverCpu),
    cpuPerRequest: m((r) => r.serverCpu / r.requests),
    bestRps: Math.max(...rounds.map((r) => r.rps)),
  };
}

/** One request with a bare node:http2 client session; resolves with the response body. */
function bareCall(session: ReturnType<typeof connect>, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)));
    stream.on('error', reject);
    stream.end(body);
  });
}

// ---------------------------------------------------------------- h2load

const run = promisify(execFile);

interface H2loadRound {
  rps: number;
  meanMs: number;
  serverCpu: number;
}

async function h2load(url: string, bodyFile: string, pid: number | undefined): Promise<H2loadRound> {
  const cpu0 = cpuMicros(pid);
  const { stdout } = await run(
    'h2load',
    [
      '-n',
      String(H2LOAD_REQUESTS),
      '-c',
      '4',
      '-m',
      '16',
      '-d',
      bodyFile,
      '-H',
      'content-type: application/json',
      url,
    ],
    { timeout: 60_000 },
  );
  const serverCpu = cpuMicros(pid) - cpu0;
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const twoxx = Number(/status codes: (\d+) 2xx/.exec(stdout)?.[1]);
  if (twoxx !== H2LOAD_REQUESTS)
    throw new Error(`h2load against ${url}: ${twoxx} of ${H2LOAD_REQUESTS} got 2xx`);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(stdout)?.[1] ?? '';
  const value = Number.parseFloat(mean);
  const meanMs = mean.endsWith('us') ? value / 1000 : mean.endsWith('ms') ? value : value * 1000;
  return { rps, meanMs, serverCpu };
}

async function haveH2load(): Promise<boolean> {
  try {
    await run('h2load', ['--version']);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- report

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '—');
const ratio = (a: number, b: number) =>
  b > 0 && Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : '—';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  const [warden, bare] = await Promise.all([startChild('warden'), startChild('bare')]);
  const pids = { warden: warden.process.pid, bare: bare.process.pid };
  const client = createHttp2Client();
  const bareSession = connect(bare.address);
  const target = { address: warden.address, namespace: 'bench', component: 'echo', endpoint: 'echo' };
  const streamTarget = { ...target, endpoint: 'stream' };
  const rows: string[][] = [];
  const checks: string[] = [];
  const row = (label: string, w: Figures, b: Figures, unit = 1): string[] => [
    label,
    f0(w.rps * unit),
    f0(b.rps * unit),
    ratio(w.rps, b.rps),
    ratio(w.bestRps, b.bestRps),
    f2(w.p50),
    f2(b.p50),
    f2(w.p99),
    f2(b.p99),
    ratio(w.p99, b.p99),
    f0(w.cpuPerRequest / unit),
    f0(b.cpuPerRequest / unit),
    ratio(b.cpuPerRequest, w.cpuPerRequest),
  ];

  try {
    for (const size of [64, 16 * 1024]) {
      // A JSON string of `size` bytes with its quotes.
      const value = 'x'.repeat(size - 2);
      for (const concurrency of [1, 64]) {
        const [w, b] = await compare(
          concurrency,
          async () => {
            const out = await client.request(target, value);
            if ((out as string).length !== value.length) throw new Error('warden echo mismatch');
          },
          async () => {
            // Encoded per call and parsed, as the warden client does with a value.
            const out = await bareCall(bareSession, '/echo', Buffer.from(JSON.stringify(value)));
            if ((JSON.parse(out.toString()) as string).length !== value.length)
              throw new Error('bare echo mismatch');
          },
          pids,
        );
        const label = `unary ${size === 64 ? '64 B' : '16 KiB'}, c=${concurrency}`;
        rows.push(row(label, w, b));
        if (size === 64 && concurrency === 64) {
          checks.push(
            `Node client, 64 B, c=64: throughput ${ratio(w.rps, b.rps)} of baseline (target ≥ 0.70×)`,
          );
        }
        if (size === 64 && concurrency === 1) {
          checks.push(`Node client, 64 B, c=1: p99 ${ratio(w.p99, b.p99)} of baseline (target ≤ 1.50×)`);
        }
      }
    }
    // Both clients parse what they receive: warden's chunks, and the baseline's NDJSON lines.
    const [ws, bs] = await compare(
      1,
      async () => {
        let n = 0;
        for await (const _ of client.call(streamTarget, null)) n++;
        if (n !== STREAM_CHUNKS) throw new Error(`warden stream gave ${n} chunks`);
      },
      async () => {
        const body = (await bareCall(bareSession, '/stream', Buffer.from('null'))).toString();
        let n = 0;
        for (const line of body.split('\n')) if (line) n += JSON.parse(line) === null ? 0 : 1;
        if (n !== STREAM_CHUNKS) throw new Error(`bare stream gave ${n} chunks`);
      },
      pids,
    );
    rows.push(row(`stream of ${STREAM_CHUNKS} (streams/s)`, ws, bs));
    rows.push(
      row('  = chunks/s, CPU ns per chunk', ws, bs, STREAM_CHUNKS).map((c, i) => (i >= 5 && i <= 9 ? '' : c)),
    );
    for (const r of rows.slice(-1)) {
      r[10] = f0((ws.cpuPerRequest * 1000) / STREAM_CHUNKS);
      r[11] = f0((bs.cpuPerRequest * 1000) / STREAM_CHUNKS);
    }

    console.log(
      `\nHTTP/2 request plane — Node ${process.version}; medians of ${ROUNDS} alternating rounds of ${ROUND_MS} ms; servers in child processes`,
    );
    console.log(
      'Node client: warden client → warden server; bare node:http2 client → bare node:http2 JSON echo server',
    );
    console.log(
      "best/best: ratio of each side's best round. srv µs/req: server CPU time per request (user + system, from /proc)\n",
    );
    console.log(
      table(
        [
          'workload',
          'warden req/s',
          'bare req/s',
          'ratio',
          'best/best',
          'p50 ms',
          'bare p50',
          'p99 ms',
          'bare p99',
          'p99 ratio',
          'srv µs/req',
          'bare µs/req',
          'CPU ratio',
        ],
        rows,
      ),
    );
    console.log('');

    if (await haveH2load()) {
      const h2rows: string[][] = [];
      const dir = tmpdir();
      for (const size of [64, 16 * 1024]) {
        const file = join(dir, `warden-h2-bench-${process.pid}-${size}.json`);
        writeFileSync(file, JSON.stringify('x'.repeat(size - 2)));
        const w: H2loadRound[] = [];
        const b: H2loadRound[] = [];
        try {
          for (let i = 0; i < ROUNDS; i++) {
            w.push(await h2load(`${warden.address}/v1/bench/echo/echo`, file, pids.warden));
            b.push(await h2load(`${bare.address}/echo`, file, pids.bare));
          }
        } finally {
          rmSync(file, { force: true });
        }
        const med = (rs: H2loadRound[], f: (r: H2loadRound) => number) => median(rs.map(f));
        const rps = (rs: H2loadRound[]) => med(rs, (r) => r.rps);
        const best = (rs: H2loadRound[]) => Math.max(...rs.map((r) => r.rps));
        const cpu = (rs: H2loadRound[]) => med(rs, (r) => r.serverCpu / H2LOAD_REQUESTS);
        h2rows.push([
          `unary ${size === 64 ? '64 B' : '16 KiB'}`,
          f0(rps(w)),
          f0(rps(b)),
          ratio(rps(w), rps(b)),
          ratio(best(w), best(b)),
          f2(med(w, (r) => r.meanMs)),
          f2(med(b, (r) => r.meanMs)),
          f0(cpu(w)),
          f0(cpu(b)),
          ratio(cpu(b), cpu(w)),
        ]);
        if (size === 64) {
          checks.push(
            `h2load, 64 B: throughput ${ratio(rps(w), rps(b))} of baseline, server CPU per request ${ratio(cpu(b), cpu(w))} (target ≥ 0.70×)`,
          );
        }
      }
      console.log(
        `h2load -n ${H2LOAD_REQUESTS} -c 4 -m 16 -d <body> -H 'content-type: application/json' <url>, medians of ${ROUNDS} alternating runs\n`,
      );
      console.log(
        table(
          [
            'workload',
            'warden req/s',
            'bare req/s',
            'ratio',
            'best/best',
            'mean ms',
            'bare mean',
            'srv µs/req',
            'bare µs/req',
            'CPU ratio',
          ],
          h2rows,
        ),
      );
    } else {
      console.log('h2load not found (apt-get install -y nghttp2-client): the h2load figures are skipped.');
    }
    console.log(`\n${checks.join('\n')}`);
    console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await client.close();
    bareSession.close();
    // Closing their stdin ends the server processes (see the --serve branch below).
    for (const c of [warden.process, bare.process]) c.stdin?.end();
  }
}

const serveIndex = process.argv.indexOf('--serve');
if (serveIndex !== -1) {
  const address = await (process.argv[serveIndex + 1] === 'warden' ? serveWarden() : serveBare());
  process.stdout.write(`${address}\n`);
  // Exit with the parent: its end of stdin closes when it is done or gone.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  await main();
}
