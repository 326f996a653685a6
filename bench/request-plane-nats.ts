/**
 * The request plane over NATS against bare NATS, in the same run, with the servers in another
 * process (and nats-server in a third).
 *
 *   npx tsx bench/request-plane-nats.ts [--rounds 5] [--round-ms 600] [--only <name>]
 *
 * Starts its own nats-server. Baseline: bare NATS publish with one reply subscription per client
 * (`{inbox}.*`) and a correlation id in the reply subject, the fast bare pattern (warden's client
 * works the same way). The bare `request()` figure (a new inbox subscription per call through
 * nats.js's mux) is printed beside it. Scenarios: unary echo of 64 B and 16 KiB raw bodies at
 * concurrency 1 and 64, and a stream of 1,000 64-byte chunks at concurrency 1. Each prints
 * requests (or streams) per second and p50/p99 latency for warden, the baseline and `request()`,
 * warden's ratio to the baseline, and the CPU time per request of the bench and server processes
 * for warden and the baseline (steadier than throughput when other work shares the machine).
 *
 * Method: after a warm-up of each system, `--rounds` rounds of `--round-ms` each; within a round
 * every system runs once, the order alternating from round to round, so drift on a shared machine
 * reaches all of them alike. Each figure is the median over the rounds; each ratio is the median
 * of the rounds' paired ratios (warden ÷ baseline within the same round). Nothing keeps a best
 * round, which would flatter whichever system had the luckier one.
 *
 * Other benches call {@link runNatsBench} and print {@link formatNatsBench} themselves.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { SystemHealth } from '../src/core/health.js';
import { type CallTarget, newInstanceId } from '../src/core/request-plane.js';
import { createNatsClient, createNatsServer } from '../src/transports/nats/index.js';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { drive, fmt, median, table } from './lib/measure.js';

const STREAM_CHUNKS = 1000;
const STREAM_CHUNK_BYTES = 64;
const CALL_TIMEOUT_MS = 30_000;

// ---- the server process -------------------------------------------------------------------

async function serve(url: string): Promise<void> {
  // warden: echo and a 1,000-chunk stream.
  const server = createNatsServer({ servers: url, maxInFlight: 100_000 });
  await server.start();
  await server.supervisor.waitFor('connection', 'ready', { timeoutMs: 5000 });
  const health = new SystemHealth();
  const chunk = new Uint8Array(STREAM_CHUNK_BYTES).fill(1);
  const base = { namespace: 'bench', component: 'svc', instanceId: newInstanceId(), health };
  await server.registerEndpoint({ ...base, endpoint: 'echo', handler: async (body) => body });
  await server.registerEndpoint({
    ...base,
    endpoint: 'stream',
    handler: async function* (body) {
      const n = body as number;
      for (let i = 0; i < n; i++) yield chunk;
    },
  });
  // bare NATS: the same two services on their own connection.
  const nc = await connect({ servers: url });
  nc.subscribe('bare.echo', {
    queue: 'q',
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  const decoder = new TextDecoder();
  nc.subscribe('bare.stream', {
    queue: 'q',
    callback: (_e, m) => {
      const n = Number(decoder.decode(m.data));
      const reply = m.reply as string;
      for (let i = 0; i < n - 1; i++) nc.publish(reply, chunk);
      const end = headers();
      end.set('End', '1');
      nc.publish(reply, chunk, { headers: end });
    },
  });
  await nc.flush();
  process.send?.('ready');
  process.once('disconnect', () => process.exit(0));
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpuMs: (u.user + u.system) / 1000 });
    } else if (m === 'stop') {
      await server.stop({ drainMs: 100 });
      await nc.close();
      process.exit(0);
    }
  });
}

function spawnServer(url: string): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', url], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolveReady, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the bench server process exited (${code})`));
    child.once('exit', onExit);
    child.once('message', () => {
      child.off('exit', onExit);
      resolveReady(child);
    });
  });
}

// ---- the bare client ----------------------------------------------------------------------

/** One reply subscription per client and correlation ids: the fast bare pattern. */
class BareClient {
  private readonly inbox = createInbox();
  private next = 0;
  private readonly waiting = new Map<string, (m: Msg) => void>();

  constructor(private readonly nc: NatsConnection) {
    const skip = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, {
      callback: (_e, m) => this.waiting.get(m.subject.slice(skip))?.(m),
    });
  }

  request(subject: string, data: Uint8Array): Promise<Msg> {
    const id = (this.next++).toString(36);
    return new Promise((resolveReply) => {
      this.waiting.set(id, (m) => {
        this.waiting.delete(id);
        resolveReply(m);
      });
      this.nc.publish(subject, data, { reply: `${this.inbox}.${id}` });
    });
  }

  stream(subject: string, n: number): Promise<number> {
    const id = (this.next++).toString(36);
    let count = 0;
    return new Promise((resolveEnd) => {
      this.waiting.set(id, (m) => {
        count++;
        if (m.headers?.get('End') === '1') {
          this.waiting.delete(id);
          resolveEnd(count);
        }
      });
      this.nc.publish(subject, String(n), { reply: `${this.inbox}.${id}` });
    });
  }
}

// ---- measuring ----------------------------------------------------------------------------

/** Throughput and latency of one system in one scenario (one round, or the median over rounds). */
export interface NatsBenchFigures {
  /** Requests (or streams) completed per second. */
  readonly perSecond: number;
  /** Median latency of one request (or whole stream), ms. */
  readonly p50: number;
  /** 99th-percentile latency, ms. */
  readonly p99: number;
  /**
   * CPU time per request (or stream) of the bench process and the server process together, µs:
   * steadier than throughput on a shared machine (nats-server's own CPU is not included).
   */
  readonly cpuUs: number;
}

/** One scenario's result: medians over the rounds, and every round as measured. */
export interface NatsBenchRow {
  /** E.g. `unary 64 B, c=64` or `stream 1000×64 B, c=1`. */
  readonly scenario: string;
  /** Callers running at once. */
  readonly concurrency: number;
  /** `req/s` or `streams/s`. */
  readonly unit: string;
  /** warden client → warden NATS server: medians over the rounds. */
  readonly warden: NatsBenchFigures;
  /** Bare publish with one reply subscription per client: medians over the rounds. */
  readonly baseline: NatsBenchFigures;
  /** Bare nats.js `request()` (unary scenarios only): medians over the rounds. */
  readonly request: NatsBenchFigures | undefined;
  /** Median over the rounds of warden ÷ baseline throughput within the same round. */
  readonly ratio: number;
  /** Median over the rounds of warden ÷ baseline p99 within the same round. */
  readonly p99Ratio: number;
  /** Median over the rounds of warden ÷ baseline CPU per request (bench and server process). */
  readonly cpuRatio: number;
  /** Median over the rounds of warden ÷ bare `request()` throughput (unary scenarios only). */
  readonly requestRatio: number | undefined;
  /** Every round, in order, for whoever wants to see the spread. */
  readonly rounds: {
    readonly warden: readonly NatsBenchFigures[];
    readonly baseline: readonly NatsBenchFigures[];
    readonly request: readonly NatsBenchFigures[] | undefined;
  };
}

/** Options of {@link runNatsBench}. */
export interface NatsBenchOptions {
  /** Measured rounds per scenario (default 5; an odd count has a true median). */
  readonly rounds?: number;
  /** Length of one system's turn in a round, ms (default 600). */
  readonly roundMs?: number;
  /** Warm-up per system and scenario before the rounds, ms (default 300). */
  readonly warmupMs?: number;
  /** Run only the scenarios whose name contains this text. */
  readonly only?: string;
  /** Receives one line per finished scenario (progress); default: nothing. */
  readonly log?: (line: string) => void;
}

/** What {@link runNatsBench} measured: the rows, and what a heading needs to say how. */
export interface NatsBenchRun {
  /** One row per scenario run, in order. */
  readonly rows: NatsBenchRow[];
  /** nats-server's version as its INFO reported it. */
  readonly natsServerVersion: string;
  /** Measured rounds per scenario. */
  readonly rounds: number;
  /** Length of one system's turn in a round, ms. */
  readonly roundMs: number;
}

/** CPU ms used so far by this process and by the server process. */
type CpuReader = () => Promise<number>;

async function round(
  op: () => Promise<unknown>,
  concurrency: number,
  ms: number,
  cpu: CpuReader,
): Promise<NatsBenchFigures> {
  const cpu0 = await cpu();
  const t0 = performance.now();
  const latencies = await drive(op, concurrency, ms);
  const elapsed = (performance.now() - t0) / 1000;
  const cpuMs = (await cpu()) - cpu0;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    perSecond: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    cpuUs: (cpuMs * 1000) / latencies.length,
  };
}

/** Reads the CPU time of this process and of `child` (which answers `'cpu'` with `{ cpuMs }`). */
function cpuReader(child: ChildProcess): CpuReader {
  return () =>
    new Promise((resolveCpu) => {
      const onMessage = (m: unknown) => {
        if (typeof m !== 'object' || m === null || !('cpuMs' in m)) return;
        child.off('message', onMessage);
        const own = process.cpuUsage();
        resolveCpu((own.user + own.system) / 1000 + Number((m as { cpuMs: number }).cpuMs));
      };
      child.on('message', onMessage);
      child.send('cpu');
    });
}

function medianOf(rounds: readonly NatsBenchFigures[]): NatsBenchFigures {
  return {
    perSecond: median(rounds.map((r) => r.perSecond)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    cpuUs: median(rounds.map((r) => r.cpuUs)),
  };
}

/** Median of the per-round ratios `a[i] / b[i]` of one figure. */
function pairedRatio(
  a: readonly NatsBenchFigures[],
  b: readonly NatsBenchFigures[],
  pick: (f: NatsBenchFigures) => number,
): number {
  return median(a.map((x, i) => pick(x) / pick(b[i] as NatsBenchFigures)));
}

/**
 * Measures the systems of one scenario: a warm-up each, then `rounds` rounds in which each runs
 * once, in an order that alternates from round to round.
 */
async function compare(
  ops: readonly (() => Promise<unknown>)[],
  concurrency: number,
  opts: { rounds: number; roundMs: number; warmupMs: number },
  cpu: CpuReader,
): Promise<NatsBenchFigures[][]> {
  for (const op of ops) await drive(op, concurrency, opts.warmupMs);
  const results: NatsBenchFigures[][] = ops.map(() => []);
  for (let r = 0; r < opts.rounds; r++) {
    const order = ops.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      (results[i] as NatsBenchFigures[]).push(
        await round(ops[i] as () => Promise<unknown>, concurrency, opts.roundMs, cpu),
      );
    }
  }
  return results;
}

/**
 * Runs the NATS request-plane benchmark: starts nats-server and a server process (warden and bare
 * services), measures every scenario from this process, stops everything, and returns one row per
 * scenario. Prints nothing unless `log` is given.
 *
 * @example
 * ```ts
 * const run = await runNatsBench({ rounds: 5, only: 'unary' });
 * console.log(formatNatsBench(run));
 * ```
 */
export async function runNatsBench(options: NatsBenchOptions = {}): Promise<NatsBenchRun> {
  const opts = {
    rounds: Math.max(1, Math.floor(options.rounds ?? 5)),
    roundMs: options.roundMs ?? 600,
    warmupMs: options.warmupMs ?? 300,
  };
  const log = options.log ?? (() => {});
  const nats = await startNatsServer();
  const child = await spawnServer(nats.url);
  const cpu = cpuReader(child);
  const client = createNatsClient({ servers: nats.url });
  const nc = await connect({ servers: nats.url });
  const rows: NatsBenchRow[] = [];
  try {
    const bare = new BareClient(nc);
    const target = (endpoint: string): CallTarget => ({
      address: nats.url,
      namespace: 'bench',
      component: 'svc',
      endpoint,
    });
    const echo = target('echo');
    const stream = target('stream');
    // Connect the warden client before anything is measured.
    await client.request(echo, new Uint8Array(1), { timeoutMs: CALL_TIMEOUT_MS });

    interface Scenario {
      readonly name: string;
      readonly concurrency: number;
      readonly unit: string;
      readonly warden: () => Promise<unknown>;
      readonly baseline: () => Promise<unknown>;
      readonly request?: () => Promise<unknown>;
    }
    const scenarios: Scenario[] = [];
    for (const size of [64, 16 * 1024]) {
      const body = new Uint8Array(size).fill(42);
      for (const c of [1, 64]) {
        scenarios.push({
          name: `unary ${size === 64 ? '64 B' : '16 KiB'}, c=${c}`,
          concurrency: c,
          unit: 'req/s',
          warden: () => client.request(echo, body, { timeoutMs: CALL_TIMEOUT_MS }),
          baseline: () => bare.request('bare.echo', body),
          request: () => nc.request('bare.echo', body, { timeout: CALL_TIMEOUT_MS }),
        });
      }
    }
    scenarios.push({
      name: `stream ${STREAM_CHUNKS}×${STREAM_CHUNK_BYTES} B, c=1`,
      concurrency: 1,
      unit: 'streams/s',
      warden: async () => {
        let n = 0;
        for await (const _ of client.call(stream, STREAM_CHUNKS, { timeoutMs: CALL_TIMEOUT_MS })) n++;
        if (n !== STREAM_CHUNKS) throw new Error(`the warden stream got ${n} chunks`);
      },
      baseline: async () => {
        const n = await bare.stream('bare.stream', STREAM_CHUNKS);
        if (n !== STREAM_CHUNKS) throw new Error(`the bare stream got ${n} messages`);
      },
    });

    for (const s of scenarios) {
      if (options.only && !s.name.includes(options.only)) continue;
      const ops = s.request ? [s.warden, s.baseline, s.request] : [s.warden, s.baseline];
      const [w, b, r] = (await compare(ops, s.concurrency, opts, cpu)) as [
        NatsBenchFigures[],
        NatsBenchFigures[],
        NatsBenchFigures[] | undefined,
      ];
      const row: NatsBenchRow = {
        scenario: s.name,
        concurrency: s.concurrency,
        unit: s.unit,
        warden: medianOf(w),
        baseline: medianOf(b),
        request: r ? medianOf(r) : undefined,
        ratio: pairedRatio(w, b, (f) => f.perSecond),
        p99Ratio: pairedRatio(w, b, (f) => f.p99),
        cpuRatio: pairedRatio(w, b, (f) => f.cpuUs),
        requestRatio: r ? pairedRatio(w, r, (f) => f.perSecond) : undefined,
        rounds: { warden: w, baseline: b, request: r },
      };
      rows.push(row);
      log(
        `${row.scenario}: warden ${fmt(row.warden.perSecond)} ${row.unit}, bare ${fmt(row.baseline.perSecond)} ${row.unit}, ratio ${row.ratio.toFixed(2)}×`,
      );
    }
    return {
      rows,
      natsServerVersion: nc.info?.version ?? 'unknown',
      rounds: opts.rounds,
      roundMs: opts.roundMs,
    };
  } finally {
    await client.close().catch(() => {});
    await nc.close().catch(() => {});
    await stopChild(child);
    await nats.stop();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.send('stop');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
}

const ms = (n: number): string => fmt(n, 2);
const times = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n) ? '—' : `${n.toFixed(2)}×`;

/** The rows of {@link runNatsBench} as a plain-text table with its heading and notes. */
export function formatNatsBench(run: NatsBenchRun): string {
  const headers = [
    'scenario',
    'warden',
    'p50 / p99 ms',
    'bare pub',
    'p50 / p99 ms',
    'ratio',
    'p99 ratio',
    'CPU µs warden / bare',
    'CPU ratio',
    'bare request()',
    'p50 / p99 ms',
    'warden ÷ request()',
  ];
  const rows = run.rows.map((r) => [
    r.scenario,
    `${fmt(r.warden.perSecond)} ${r.unit}`,
    `${ms(r.warden.p50)} / ${ms(r.warden.p99)}`,
    `${fmt(r.baseline.perSecond)} ${r.unit}`,
    `${ms(r.baseline.p50)} / ${ms(r.baseline.p99)}`,
    times(r.ratio),
    times(r.p99Ratio),
    `${fmt(r.warden.cpuUs, 1)} / ${fmt(r.baseline.cpuUs, 1)}`,
    times(r.cpuRatio),
    r.request ? `${fmt(r.request.perSecond)} ${r.unit}` : '—',
    r.request ? `${ms(r.request.p50)} / ${ms(r.request.p99)}` : '—',
    times(r.requestRatio),
  ]);
  const [load1] = loadavg();
  const verdicts: string[] = [];
  for (const r of run.rows) {
    if (r.concurrency === 64) {
      verdicts.push(
        `${r.scenario}: throughput ${r.ratio.toFixed(2)}× the bare pub baseline (target ≥ 0.80) ${r.ratio >= 0.8 ? 'ok' : 'MISSED'}`,
      );
    }
    if (r.concurrency === 1 && r.scenario.startsWith('unary')) {
      verdicts.push(
        `${r.scenario}: p99 ${r.p99Ratio.toFixed(2)}× the bare pub baseline (target ≤ 1.50) ${r.p99Ratio <= 1.5 ? 'ok' : 'MISSED'}`,
      );
    }
  }
  return [
    `request plane over NATS vs bare NATS (nats.js 3.4, nats-server ${run.natsServerVersion}, servers in a child process; ` +
      `medians of ${run.rounds} interleaved rounds of ${fmt(run.roundMs)} ms; Node ${process.version}, ${cpus().length} CPUs, load ${load1?.toFixed(1)})`,
    '',
    table(headers, rows),
    '',
    'bare pub = bare publish with one reply subscription per client and correlation ids (the baseline);',
    'bare request() = nats.js request(), printed beside it. Figures are medians over the rounds; ratio and',
    'p99 ratio are medians of the per-round ratios warden ÷ bare pub (each round measures both back to back).',
    'CPU µs = CPU time of the bench (client) process and the server process per request or stream, nats-server',
    'not included; CPU ratio = median of the per-round ratios warden ÷ bare pub (lower is better).',
    '',
    ...verdicts,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      'round-ms': { type: 'string', default: '600' },
      only: { type: 'string' },
    },
  });
  const run = await runNatsBench({
    rounds: Number(values.rounds),
    roundMs: Number(values['round-ms']),
    ...(values.only ? { only: values.only } : {}),
    // Progress on a terminal only, so that stdout is the table alone.
    ...(process.stderr.isTTY ? { log: (line: string) => console.error(line) } : {}),
  });
  console.log(formatNatsBench(run));
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  if (process.argv[2] === 'serve') {
    void serve(process.argv[3] as string);
  } else {
    main().catch((err) => {
      console.error(err);
      process.exit(1);
    });
  }
}
