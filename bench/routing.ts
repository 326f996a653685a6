/**
 * Routing and discovery, each beside its baseline.
 *
 * 1. Router call vs a direct TCP client call to the same instance: unary 64 B bodies at
 *    concurrency 64, the server in a child process. Rounds alternate direct and routed; the
 *    median round of each is reported with the client process's CPU µs per call.
 *    Target: router throughput ≥ 0.9× direct.
 * 2. Discovery latency: a child process registers 100 instances in NatsKvDiscovery one at a time;
 *    this process's router reports when it sees each one. Time from `register` (in the child) to
 *    the router's instance list holding it (here), median and worst; both read the same clock.
 *    Target: median < 50 ms on loopback. Needs `nats-server` on PATH (skipped otherwise).
 * 3. The router's own cost, with the transport taken out: an in-process client that answers at
 *    once, called directly and through a router; the µs per call the router adds.
 *
 * Run:   npx tsx bench/routing.ts
 * Flags: --seconds <s>   measuring time per round (default 2)
 *        --rounds <n>    paired rounds (default 6)
 *        --only <part>   `routing`, `overhead` or `discovery`
 *
 * An aggregate runner can `import { main } from './routing.ts'` and call `main(['--only', 'routing'])`:
 * importing runs nothing; the child processes re-run this file as their entry point.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ResponseStream } from '../src/actors/response-stream.js';
import { SystemHealth } from '../src/core/health.js';
import {
  type CallOptions,
  type CallTarget,
  newInstanceId,
  type RequestPlaneClient,
} from '../src/core/request-plane.js';
import type { InstanceRecord } from '../src/discovery/discovery.js';
import { MemoryDiscovery } from '../src/discovery/memory.js';
import { NatsKvDiscovery } from '../src/discovery/nats-kv.js';
import { createRouter } from '../src/routing/router.js';
import { createTcpClient } from '../src/transports/tcp/client.js';
import { createTcpServer } from '../src/transports/tcp/server.js';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { fmt, median } from './lib/measure.js';

const PATH = { namespace: 'bench', component: 'route', endpoint: 'echo' } as const;
const REGISTRATIONS = 100;

/** Wall-clock epoch ms with sub-ms resolution, comparable across processes on one machine. */
const epoch = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- child processes

async function serveTcp(): Promise<void> {
  const server = createTcpServer();
  await server.start();
  const instanceId = newInstanceId();
  await server.registerEndpoint({
    ...PATH,
    instanceId,
    health: new SystemHealth(),
    handler: async (body) => body,
  });
  process.send?.({ address: server.address(), instanceId });
}

/** Registers one instance per `{ register: n }` message and answers with the time it called register. */
async function registrar(natsUrl: string): Promise<void> {
  const discovery = new NatsKvDiscovery({ servers: natsUrl, bucket: 'bench-routing' });
  await discovery.list(PATH); // connected, bucket open
  process.on('message', (m: { register?: InstanceRecord }) => {
    const record = m.register;
    if (!record) return;
    const t0 = epoch();
    discovery.register(record).then(
      () => process.send?.({ registered: record.instanceId, t0, t1: epoch() }),
      (err) => process.send?.({ error: String(err) }),
    );
  });
  process.on('disconnect', () => void discovery.close().then(() => process.exit(0)));
  process.send?.({ ready: true });
}

function spawnChild(args: string[]): Promise<{ child: ChildProcess; first: Record<string, unknown> }> {
  const child = fork(fileURLToPath(import.meta.url), args, {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (first) => resolve({ child, first: first as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
  });
}

// ---------------------------------------------------------------- part 1: router vs direct

interface Round {
  perSecond: number;
  cpuUsPerCall: number;
}

async function drive(run: () => Promise<unknown>, concurrency: number, ms: number): Promise<number> {
  const stopAt = performance.now() + ms;
  let n = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      await run();
      n++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return n;
}

async function round(run: () => Promise<unknown>, seconds: number): Promise<Round> {
  await drive(run, 64, 300); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await drive(run, 64, seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: n / elapsed, cpuUsPerCall: (cpu.user + cpu.system) / n };
}

async function benchRouting(seconds: number, rounds: number): Promise<string> {
  const { child, first } = await spawnChild(['--serve']);
  const address = String(first.address);
  const instanceId = String(first.instanceId);
  const discovery = new MemoryDiscovery();
  await discovery.register({ ...PATH, instanceId, transport: 'tcp', address, meta: {} });
  const direct = createTcpClient();
  const router = createRouter({ discovery, mode: 'round-robin' });
  const target: CallTarget = { address, ...PATH, instanceId };
  const body = new Uint8Array(64).fill(7);
  const results = { direct: [] as Round[], router: [] as Round[] };
  const ratios: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, and compare within a pair: the load of a shared machine drifts.
      const runDirect = () => round(() => direct.request(target, body), seconds);
      const runRouter = () => round(() => router.request(PATH, body), seconds);
      let dr: Round;
      let rr: Round;
      if (i % 2 === 0) {
        dr = await runDirect();
        rr = await runRouter();
      } else {
        rr = await runRouter();
        dr = await runDirect();
      }
      results.direct.push(dr);
      results.router.push(rr);
      ratios.push(rr.perSecond / dr.perSecond);
    }
  } finally {
    await router.close();
    await direct.close();
    child.disconnect();
    child.kill();
  }
  const d = median(results.direct.map((r) => r.perSecond));
  const r = median(results.router.map((x) => x.perSecond));
  const dc = median(results.direct.map((x) => x.cpuUsPerCall));
  const rc = median(results.router.map((x) => x.cpuUsPerCall));
  const ratio = median(ratios);
  const lines = [
    `router vs direct TCP client, unary 64 B, concurrency 64 (server in a child process; ${rounds} paired rounds × ${seconds} s, medians)`,
    `  direct client  ${fmt(d).padStart(8)} req/s   client CPU ${fmt(dc, 1)} µs/call   rounds: ${results.direct.map((x) => fmt(x.perSecond)).join(', ')}`,
    `  router         ${fmt(r).padStart(8)} req/s   client CPU ${fmt(rc, 1)} µs/call   rounds: ${results.router.map((x) => fmt(x.perSecond)).join(', ')}`,
    `  ratio router/direct (median of the ${rounds} paired rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')}): ${ratio.toFixed(2)}× (target ≥ 0.90) ${ratio >= 0.9 ? 'ok' : 'MISSED'}`,
    `  client CPU per call router/direct: ${(rc / dc).toFixed(2)}× (the figure a busy machine distorts least)`,
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------- part 1b: the router's own cost

/** A client whose every call answers its body at once (a microtask later): no I/O to measure. */
class InstantClient implements RequestPlaneClient {
  call(_target: CallTarget, body: unknown, opts: CallOptions = {}): ResponseStream {
    const stream = new ResponseStream(opts);
    return stream.attach({
      send: () =>
        queueMicrotask(() => {
          stream.push(body);
          stream.end();
        }),
      cancel: () => {},
    });
  }
  request(target: CallTarget, body: unknown, opts?: CallOptions): Promise<unknown> {
    return this.call(target, body, opts).collect();
  }
  async close(): Promise<void> {}
}

/**
 * What the router adds to a call, with the transport taken out: the same instant client called
 * directly and through a router, 64 callers, in this process. Median of paired rounds.
 */
async function benchOverhead(rounds: number): Promise<string> {
  const discovery = new MemoryDiscovery();
  const instanceId = newInstanceId();
  const address = 'tcp://127.0.0.1:1';
  await discovery.register({ ...PATH, instanceId, transport: 'tcp', address, meta: {} });
  const client = new InstantClient();
  const router = createRouter({ discovery, clients: { tcp: client } });
  const target: CallTarget = { address, ...PATH, instanceId };
  const calls = 300_000;
  const timed = async (run: () => Promise<unknown>): Promise<number> => {
    let left = calls;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (left-- > 0) await run();
      }),
    );
    return ((performance.now() - t0) * 1000) / calls; // µs per call
  };
  const direct: number[] = [];
  const routed: number[] = [];
  const added: number[] = [];
  try {
    await timed(() => router.request(PATH, 1)); // warm-up, and the first call waits for discovery
    for (let i = 0; i < rounds; i++) {
      const d = await timed(() => client.request(target, 1));
      const r = await timed(() => router.request(PATH, 1));
      direct.push(d);
      routed.push(r);
      added.push(r - d);
    }
  } finally {
    await router.close();
  }
  return [
    `the router's own cost: an instant in-process client, called directly and through a router (64 callers, ${rounds} paired rounds × ${fmt(calls)} calls, medians)`,
    `  direct ${fmt(median(direct), 3)} µs/call   router ${fmt(median(routed), 3)} µs/call   added by the router ${fmt(median(added), 3)} µs/call`,
  ].join('\n');
}

// ---------------------------------------------------------------- part 2: discovery latency

async function benchDiscovery(): Promise<string> {
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  try {
    nats = await startNatsServer({ jetstream: true });
  } catch (err) {
    return `discovery latency: skipped (${(err as Error).message.split('\n')[0]})`;
  }
  const discovery = new NatsKvDiscovery({ servers: nats.url, bucket: 'bench-routing' });
  const router = createRouter({ discovery });
  const { child } = await spawnChild(['--registrar', nats.url]);
  const latencies: number[] = [];
  const registerCalls: number[] = [];
  try {
    await router.instances(PATH); // the router's watch is up and synced
    for (let i = 0; i < REGISTRATIONS; i++) {
      const record: InstanceRecord = {
        ...PATH,
        instanceId: newInstanceId(),
        transport: 'tcp',
        address: `tcp://127.0.0.1:${10_000 + i}`,
        meta: {},
      };
      const reply = new Promise<{ t0: number; t1: number }>((resolve, reject) => {
        child.once('message', (m: { t0?: number; t1?: number; error?: string }) =>
          m.error ? reject(new Error(m.error)) : resolve(m as { t0: number; t1: number }),
        );
      });
      child.send({ register: record });
      // Poll the router's own view of the path: that is what its next call picks from.
      let seenAt = 0;
      const giveUp = performance.now() + 5000;
      while (performance.now() < giveUp) {
        const list = await router.instances(PATH);
        if (list.some((x) => x.instanceId === record.instanceId)) {
          seenAt = epoch();
          break;
        }
        await new Promise((r) => setImmediate(r));
      }
      const { t0, t1 } = await reply;
      if (!seenAt) throw new Error(`the router did not see registration ${i} within 5 s`);
      latencies.push(seenAt - t0);
      registerCalls.push(t1 - t0);
    }
  } finally {
    await router.close();
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
    await discovery.close();
    await nats.stop();
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const med = median(sorted);
  const p90 = sorted[Math.floor(sorted.length * 0.9)] as number;
  const worst = sorted[sorted.length - 1] as number;
  return [
    `discovery: register in one process → seen by the router in another (NatsKvDiscovery, ${REGISTRATIONS} registrations)`,
    `  median ${med.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms, worst ${worst.toFixed(2)} ms; register() itself: median ${median(registerCalls).toFixed(2)} ms`,
    `  target: median < 50 ms ${med < 50 ? 'ok' : 'MISSED'}`,
  ].join('\n');
}

// ---------------------------------------------------------------- main

/** Default measuring time per round, seconds (the `--seconds` flag). */
export const DEFAULT_SECONDS = 2;
/** Default number of paired rounds (the `--rounds` flag). */
export const DEFAULT_ROUNDS = 6;

/**
 * Runs the benchmark with command-line style `args` (the flags above; default: this process's
 * arguments) and prints its report. With `--serve` or `--registrar` it is one of the child processes.
 */
export async function main(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      serve: { type: 'boolean' },
      registrar: { type: 'string' },
      seconds: { type: 'string', default: String(DEFAULT_SECONDS) },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      only: { type: 'string' },
    },
  });
  if (values.serve) return serveTcp();
  if (values.registrar) return registrar(values.registrar);
  const [load1] = loadavg();
  console.log(
    `routing and discovery (Node ${process.version}, ${cpus().length} CPUs, load ${load1?.toFixed(1)})\n`,
  );
  if (!values.only || values.only === 'routing') {
    console.log(await benchRouting(Number(values.seconds), Number(values.rounds)));
    console.log();
  }
  if (!values.only || values.only === 'overhead') {
    console.log(await benchOverhead(Math.max(5, Number(values.rounds))));
    console.log();
  }
  if (!values.only || values.only === 'discovery') console.log(await benchDiscovery());
}

/** True when this file is the process's entry point (`npx tsx bench/routing.ts`, or a child). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main();
