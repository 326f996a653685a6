/**
 * The request plane over NATS against bare NATS, with the servers in another process.
 *
 *   npx tsx bench/request-plane-nats.ts
 *
 * Starts its own nats-server. Baseline: bare NATS publish with one reply subscription per client
 * (`{inbox}.*`) and a correlation id in the reply subject; the bare `request()` figure is printed
 * beside it. Scenarios: unary echo of 64 B and 16 KiB at concurrency 1 and 64, and a stream of
 * 1,000 chunks. Prints req/s, p50 and p99 for each and the ratio warden / baseline. Each scenario runs
 * in alternating rounds and keeps each system's best round, so a burst of load from elsewhere on a
 * shared machine does not decide the ratio.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { SystemHealth } from '../src/core/health.js';
import { newInstanceId } from '../src/core/request-plane.js';
import { createNatsClient, createNatsServer, type NatsClient } from '../src/transports/nats/index.js';
import { startNatsServer } from '../test/helpers/nats-server.js';

const WARMUP_MS = 250;
const MEASURE_MS = 600;
/** Rounds per scenario, the systems alternating; the best round of each is printed (the machine is shared and noisy). */
const ROUNDS = 3;
const STREAM_CHUNKS = 1000;
const STREAM_CHUNK_BYTES = 64;

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
  nc.subscribe('bare.stream', {
    queue: 'q',
    callback: (_e, m) => {
      const n = Number(new TextDecoder().decode(m.data));
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
    if (m === 'stop') {
      await server.stop({ drainMs: 100 });
      await nc.close();
      process.exit(0);
    }
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
    return new Promise((resolve) => {
      this.waiting.set(id, (m) => {
        this.waiting.delete(id);
        resolve(m);
      });
      this.nc.publish(subject, data, { reply: `${this.inbox}.${id}` });
    });
  }

  stream(subject: string, n: number): Promise<number> {
    const id = (this.next++).toString(36);
    let count = 0;
    return new Promise((resolve) => {
      this.waiting.set(id, (m) => {
        count++;
        if (m.headers?.get('End') === '1') {
          this.waiting.delete(id);
          resolve(count);
        }
      });
      this.nc.publish(subject, String(n), { reply: `${this.inbox}.${id}` });
    });
  }
}

// ---- measuring ----------------------------------------------------------------------------

interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

async function measure(concurrency: number, op: () => Promise<unknown>): Promise<Figures> {
  const run = async (ms: number, latencies: number[] | undefined): Promise<number> => {
    const until = performance.now() + ms;
    let count = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await op();
          latencies?.push(performance.now() - t0);
          count++;
        }
      }),
    );
    return count;
  };
  await run(WARMUP_MS, undefined);
  const latencies: number[] = [];
  const t0 = performance.now();
  const count = await run(MEASURE_MS, latencies);
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rate: count / elapsed, p50: at(0.5), p99: at(0.99) };
}

/** Runs the systems in alternating rounds and keeps each one's best round (highest rate). */
async function rounds(concurrency: number, ops: Array<() => Promise<unknown>>): Promise<Figures[]> {
  const best: Array<Figures | undefined> = ops.map(() => undefined);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, op] of ops.entries()) {
      const f = await measure(concurrency, op);
      const prev = best[i];
      if (!prev || f.rate > prev.rate) best[i] = f;
    }
  }
  return best as Figures[];
}

const fmtRate = (n: number) => Math.round(n).toLocaleString('en-US').padStart(8);
const fmtMs = (n: number) => `${n.toFixed(2)}`.padStart(6);

async function main(): Promise<void> {
  const nats = await startNatsServer();
  const child = fork(fileURLToPath(import.meta.url), ['serve', nats.url], {
    execArgv: process.execArgv,
    stdio: 'inherit',
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`server process exited (${code})`)));
  });

  const client: NatsClient = createNatsClient({ servers: nats.url });
  const nc = await connect({ servers: nats.url });
  const bare = new BareClient(nc);
  const target = (endpoint: string) => ({
    address: nats.url,
    namespace: 'bench',
    component: 'svc',
    endpoint,
  });
  const echo = target('echo');
  const stream = target('stream');

  console.log(
    `NATS request plane vs bare NATS (nats.js 3.4, nats-server ${process.env.NATS_VERSION ?? '2.9'}, servers in another process, Node ${process.version})`,
  );
  console.log(
    'scenario              |   warden req/s  p50 ms  p99 ms |  bare pub req/s  p50 ms  p99 ms | ratio (rate, p99) | bare request() req/s  p50 ms  p99 ms',
  );
  const rows: Array<{ name: string; w: Figures; b: Figures; r?: Figures }> = [];
  for (const size of [64, 16 * 1024]) {
    const body = new Uint8Array(size).fill(42);
    for (const c of [1, 64]) {
      const name = `echo ${size === 64 ? '64 B' : '16 KiB'} c=${c}`;
      const [w, b, r] = await rounds(c, [
        () => client.request(echo, body, { timeoutMs: 10_000 }),
        () => bare.request('bare.echo', body),
        () => nc.request('bare.echo', body, { timeout: 10_000 }),
      ]);
      rows.push({ name, w, b, r });
      print(name, w, b, r);
    }
  }
  {
    const name = `stream ${STREAM_CHUNKS}×${STREAM_CHUNK_BYTES} B c=1`;
    const [w, b] = await rounds(1, [
      async () => {
        let n = 0;
        for await (const _ of client.call(stream, STREAM_CHUNKS, { timeoutMs: 30_000 })) n++;
        if (n !== STREAM_CHUNKS) throw new Error(`stream got ${n} chunks`);
      },
      async () => {
        const n = await bare.stream('bare.stream', STREAM_CHUNKS);
        if (n !== STREAM_CHUNKS) throw new Error(`bare stream got ${n} messages`);
      },
    ]);
    rows.push({ name, w, b });
    print(name, w, b, undefined, 'streams/s');
  }
  console.log(
    '\nratio = warden req/s ÷ bare pub req/s (target ≥ 0.8 at c=64); p99 ratio = warden p99 ÷ bare pub p99 (target ≤ 1.5 at c=1).',
  );
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  await client.close();
  await nc.close();
  await nats.stop();
}

function print(name: string, w: Figures, b: Figures, r: Figures | undefined, unit = ''): void {
  const ratio = `${(w.rate / b.rate).toFixed(2)}, ${(w.p99 / b.p99).toFixed(2)}`.padStart(17);
  const req = r ? `${fmtRate(r.rate)}             ${fmtMs(r.p50)}  ${fmtMs(r.p99)}` : '       —';
  console.log(
    `${name.padEnd(21)} | ${fmtRate(w.rate)}       ${fmtMs(w.p50)}  ${fmtMs(w.p99)} | ${fmtRate(b.rate)}        ${fmtMs(b.p50)}  ${fmtMs(b.p99)} | ${ratio} | ${req}${unit ? `   (${unit})` : ''}`,
  );
}

if (process.argv[2] === 'serve') {
  void serve(process.argv[3] as string);
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
