/**
 * Supervision at scale: N sessions under one supervisor versus a bare promise reconnect loop.
 *
 * For each N (default 1,000 and 10,000) and each contender, in the same process run:
 *  1. start N sessions whose connector succeeds at once (init resolves, run hangs until a shared
 *     "storm" promise resolves or the attempt's signal aborts) and time until all are ready;
 *  2. read the heap (after full GCs) before and after, divided by N;
 *  3. make every session's run return `{ type: 'disconnected' }` at the same moment, time until all
 *     are ready again (retry after 1 ms, no jitter) and record the worst event-loop delay meanwhile;
 *  4. stop everything and time that;
 *  5. in a second round, start N sessions whose connect fails and let all of them wait a 60 s
 *     backoff, then time stopping them (each waiting session holds a delayed event).
 *
 * Run:  npm run bench                     (N = 1,000 and 10,000)
 *       npx tsx bench/supervision.ts --n 1000,10000,50000 --runs 1
 *       node --expose-gc --import tsx bench/supervision.ts --n 10000
 * Flags: --n <list>     session counts, comma-separated
 *        --runs <k>     repetitions per N and contender (default 3); each figure is the median
 *        --stat min     print each figure's best run instead of the median (on a busy shared
 *                       machine the best run is the one least disturbed by other processes)
 *        --only <name>  run only `warden` or `bare` (for profiling)
 *        --no-warmup    skip the unreported warm-up round at N = 500
 *        --no-storm     leave the storm out (start, heap and stop only; for very large N)
 */
import { parseArgs } from 'node:util';
import { createSupervisor } from '../src/actors/supervisor.js';
import type { Connector, RunOutcome, Session, SessionContext } from '../src/core/connector.js';
import type { FailurePhase, FailureReport } from '../src/core/failure.js';
import {
  type Deferred,
  deferred,
  fmt,
  GcPauses,
  gc,
  gcExposedByFlag,
  LoopDelay,
  mainThreadCpuMs,
  median,
  now,
  ratio,
  settledHeapUsed,
  sleep,
  table,
} from './lib/measure.js';

/** The retry delay after the storm: 1 ms, no jitter, so the reconnect is quick and deterministic. */
const BACKOFF_MS = 1;
const RETRY = { initialIntervalMs: BACKOFF_MS, randomizationFactor: 0, maxRetries: null } as const;

/** The targets of the task, stated for N = 10,000. */
const TARGET = {
  readyMs: 1000,
  heapKB: 30,
  stormDelayMs: 100,
  maxRatio: 5,
} as const;

const DISCONNECTED: RunOutcome = { type: 'disconnected' };

// ---- the workload ------------------------------------------------------------------------------

/** A shared switch: `trigger()` ends every running session's `run` at the same moment. */
class Storm {
  private current: Deferred<void> = deferred();

  /** The promise the sessions running now wait on. */
  get promise(): Promise<void> {
    return this.current.promise;
  }

  /** Ends every run that started before this call; runs that start afterwards wait for the next. */
  trigger(): void {
    const fired = this.current;
    this.current = deferred();
    fired.resolve();
  }
}

/** A session that is ready at once and runs until the storm or until its attempt is abandoned. */
class InstantSession implements Session<number> {
  constructor(
    readonly handle: number,
    private readonly storm: Storm,
  ) {}

  async init(): Promise<void> {}

  run(ctx: SessionContext): Promise<RunOutcome> {
    const { signal } = ctx;
    return new Promise<RunOutcome>((resolve) => {
      if (signal.aborted) {
        resolve(DISCONNECTED);
        return;
      }
      const onAbort = (): void => resolve(DISCONNECTED);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.storm.promise.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(DISCONNECTED);
      });
    });
  }
}

/** A connector whose `connect` succeeds at once; every error is retryable. */
function instantConnector(handle: number, storm: Storm): Connector<number> {
  return {
    connect: async () => new InstantSession(handle, storm),
    classifyError: () => 'retryable',
  };
}

// ---- what one contender reports ----------------------------------------------------------------

interface Figures {
  /** From creating the supervisor (or the loops) until every session is ready. */
  readyMs: number;
  /** The part of `readyMs` spent synchronously creating and starting (validation, spawning). */
  startSyncMs: number;
  /** Main-thread CPU time over the same span (steadier than wall time on a shared machine). */
  readyCpuMs: number;
  /** The worst event-loop delay between start and all ready. */
  startDelayMs: number;
  /** Main-thread GC pauses between start and all ready. */
  startGcMs: number;
  heapPerSessionBytes: number;
  /** From the storm until every session is ready again. */
  stormMs: number;
  /** Main-thread CPU time over the same span. */
  stormCpuMs: number;
  /** The worst event-loop delay during the storm. */
  stormDelayMs: number;
  /** Main-thread GC pauses during the storm. */
  stormGcMs: number;
  stopMs: number;
  /**
   * A second round: N sessions whose connect fails, all waiting out a 60 s backoff; from stop()
   * until everything ended. (Each waiting session holds a delayed event of the supervisor's system.)
   */
  stopReconnectingMs: number;
}

interface Contender {
  readonly name: 'warden' | 'bare';
  /** Runs one round with `n` sessions; `storm: false` leaves the storm out (its figures are NaN). */
  run(n: number, options: { storm: boolean }): Promise<Omit<Figures, 'stopReconnectingMs'>>;
  /** Starts `n` sessions that fail to connect and wait a long backoff; returns how long stopping them took. */
  stopReconnecting(n: number): Promise<number>;
}

/** The backoff of the stop-while-reconnecting round: long enough that no retry happens meanwhile. */
const LONG_RETRY = {
  initialIntervalMs: 60_000,
  maxIntervalMs: 60_000,
  randomizationFactor: 0,
  maxRetries: null,
} as const;

/** A connector whose connect always fails, retryably. */
const refusing: Connector<number> = {
  connect: async () => {
    throw new Error('connect ECONNREFUSED');
  },
  classifyError: () => 'retryable',
};

type StormFigures = Pick<Figures, 'stormMs' | 'stormCpuMs' | 'stormDelayMs' | 'stormGcMs'>;

const NO_STORM: StormFigures = {
  stormMs: Number.NaN,
  stormCpuMs: Number.NaN,
  stormDelayMs: Number.NaN,
  stormGcMs: Number.NaN,
};

/** Fires the storm and measures until `allReadyAgain` resolves. */
async function measureStorm(storm: Storm, allReadyAgain: () => Promise<void>): Promise<StormFigures> {
  await loopDelay.start();
  gcPauses.start();
  const c1 = mainThreadCpuMs();
  const t1 = now();
  storm.trigger();
  await allReadyAgain();
  const stormMs = now() - t1;
  const stormCpuMs = mainThreadCpuMs() - c1;
  const stormDelayMs = await loopDelay.stop();
  const stormGcMs = await gcPauses.stop();
  return { stormMs, stormCpuMs, stormDelayMs, stormGcMs };
}

const loopDelay = new LoopDelay();
const gcPauses = new GcPauses();

/** warden: one supervisor, N session children, logger silent (the default). */
const warden: Contender = {
  name: 'warden',
  async run(n, options) {
    const storm = new Storm();
    let readyCount = 0;
    let allReady = deferred();
    const heapBefore = await settledHeapUsed();

    await loopDelay.start();
    gcPauses.start();
    const c0 = mainThreadCpuMs();
    const t0 = now();
    const children = Array.from({ length: n }, (_, i) => ({
      id: `s${i}`,
      connector: instantConnector(i, storm),
      retry: RETRY,
    }));
    const sup = createSupervisor({ id: 'bench', children });
    sup.on('ready', () => {
      if (++readyCount === n) allReady.resolve();
    });
    sup.start();
    const startSyncMs = now() - t0;
    await allReady.promise;
    const readyMs = now() - t0;
    const readyCpuMs = mainThreadCpuMs() - c0;
    const startDelayMs = await loopDelay.stop();
    const startGcMs = await gcPauses.stop();

    const heapAfter = await settledHeapUsed();
    expectAllReady(sup, n, 1);

    let stormFigures = NO_STORM;
    if (options.storm) {
      readyCount = 0;
      allReady = deferred();
      stormFigures = await measureStorm(storm, () => allReady.promise);
      expectAllReady(sup, n, 2);
    }

    const t2 = now();
    const output = await sup.stop({ timeoutMs: 300_000 });
    const stopMs = now() - t2;
    if (output.status !== 'stopped') throw new Error(`supervisor ended ${output.status}, expected stopped`);

    return {
      readyMs,
      readyCpuMs,
      startSyncMs,
      startDelayMs,
      startGcMs,
      heapPerSessionBytes: (heapAfter - heapBefore) / n,
      ...stormFigures,
      stopMs,
    };
  },
  async stopReconnecting(n) {
    let waiting = 0;
    const allWaiting = deferred();
    const children = Array.from({ length: n }, (_, i) => ({
      id: `r${i}`,
      connector: refusing,
      retry: LONG_RETRY,
    }));
    const sup = createSupervisor({ id: 'bench-down', children });
    sup.on('transition', (e) => {
      if (e.to === 'reconnecting' && ++waiting === n) allWaiting.resolve();
    });
    sup.start();
    await allWaiting.promise;
    const t0 = now();
    const output = await sup.stop({ timeoutMs: 600_000 });
    const ms = now() - t0;
    if (output.status !== 'stopped') throw new Error(`supervisor ended ${output.status}, expected stopped`);
    return ms;
  },
};

/** Checks that the supervisor really has every child ready on the expected attempt. */
function expectAllReady(sup: ReturnType<typeof createSupervisor>, n: number, attempt: number): void {
  const snap = sup.getSnapshot();
  let ready = 0;
  for (const c of snap.children) if (c.status.state === 'ready' && c.status.attempt === attempt) ready++;
  if (ready !== n || snap.children.length !== n) {
    throw new Error(
      `expected ${n} children ready on attempt ${attempt}, found ${ready} of ${snap.children.length}`,
    );
  }
}

/** The state one bare loop shares with whoever stops it. */
interface BareLoop {
  stopped: boolean;
  controller: AbortController;
}

const NO_RECONNECT = { tryRequestReconnect: () => false };

/**
 * The baseline: a plain async reconnect loop per session, no XState. It gives the session the same
 * context fields a warden attempt does (an abort signal per attempt, so it can be stopped) and waits
 * the same 1 ms before reconnecting after a disconnect or an error.
 */
async function bareLoop(connector: Connector<number>, state: BareLoop, onReady: () => void): Promise<void> {
  let attempt = 0;
  while (!state.stopped) {
    const controller = new AbortController();
    state.controller = controller;
    const n = ++attempt;
    const ctx: SessionContext = {
      signal: controller.signal,
      attempt: n,
      reconnect: NO_RECONNECT,
      get log(): never {
        throw new Error('the bench sessions do not log');
      },
      fatal: (phase: FailurePhase, summary: string, code?: string): FailureReport => ({
        phase,
        kind: 'fatal',
        summary,
        attempt: n,
        at: Date.now(),
        ...(code === undefined ? {} : { code }),
      }),
    };
    try {
      const session = await connector.connect(ctx);
      try {
        await session.init(ctx);
        if (state.stopped) break;
        onReady();
        await session.run(ctx);
      } finally {
        controller.abort();
        await session.close?.();
      }
    } catch {
      // retry below
    }
    if (state.stopped) break;
    await sleep(BACKOFF_MS);
  }
}

const bare: Contender = {
  name: 'bare',
  async run(n, options) {
    const storm = new Storm();
    let readyCount = 0;
    let allReady = deferred();
    const onReady = (): void => {
      if (++readyCount === n) allReady.resolve();
    };
    const heapBefore = await settledHeapUsed();

    await loopDelay.start();
    gcPauses.start();
    const c0 = mainThreadCpuMs();
    const t0 = now();
    const states: BareLoop[] = [];
    const loops: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const state: BareLoop = { stopped: false, controller: new AbortController() };
      states.push(state);
      loops.push(bareLoop(instantConnector(i, storm), state, onReady));
    }
    const startSyncMs = now() - t0;
    await allReady.promise;
    const readyMs = now() - t0;
    const readyCpuMs = mainThreadCpuMs() - c0;
    const startDelayMs = await loopDelay.stop();
    const startGcMs = await gcPauses.stop();

    const heapAfter = await settledHeapUsed();

    let stormFigures = NO_STORM;
    if (options.storm) {
      readyCount = 0;
      allReady = deferred();
      stormFigures = await measureStorm(storm, () => allReady.promise);
    }

    const t2 = now();
    for (const s of states) {
      s.stopped = true;
      s.controller.abort();
    }
    await Promise.all(loops);
    const stopMs = now() - t2;

    return {
      readyMs,
      readyCpuMs,
      startSyncMs,
      startDelayMs,
      startGcMs,
      heapPerSessionBytes: (heapAfter - heapBefore) / n,
      ...stormFigures,
      stopMs,
    };
  },
  async stopReconnecting(n) {
    // The same as a bare loop whose connect fails: it waits its backoff on an abortable timer.
    const controllers: AbortController[] = [];
    let waiting = 0;
    const allWaiting = deferred();
    const loops = Array.from({ length: n }, async () => {
      const controller = new AbortController();
      controllers.push(controller);
      while (!controller.signal.aborted) {
        try {
          await refusing.connect({ signal: controller.signal } as SessionContext);
        } catch {
          if (++waiting === n) allWaiting.resolve();
          await abortableSleep(LONG_RETRY.initialIntervalMs, controller.signal);
        }
      }
    });
    await allWaiting.promise;
    const t0 = now();
    for (const c of controllers) c.abort();
    await Promise.all(loops);
    return now() - t0;
  },
};

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---- driver ------------------------------------------------------------------------------------

/** How the runs of one figure are summarised. */
type Stat = 'median' | 'min';

function summarise(runs: readonly Figures[], key: keyof Figures, stat: Stat): number {
  const values = runs.map((r) => r[key]);
  return stat === 'min' ? Math.min(...values) : median(values);
}

async function measure(
  contender: Contender,
  n: number,
  runs: number,
  stat: Stat,
  storm: boolean,
): Promise<Figures | undefined> {
  const all: Figures[] = [];
  for (let i = 0; i < runs; i++) {
    const figures = await contender.run(n, { storm });
    await settledHeapUsed();
    const stopReconnectingMs = await contender.stopReconnecting(n);
    all.push({ ...figures, stopReconnectingMs });
    await settledHeapUsed();
    await sleep(50);
  }
  if (all.length === 0) return undefined;
  return {
    readyMs: summarise(all, 'readyMs', stat),
    readyCpuMs: summarise(all, 'readyCpuMs', stat),
    startSyncMs: summarise(all, 'startSyncMs', stat),
    startDelayMs: summarise(all, 'startDelayMs', stat),
    startGcMs: summarise(all, 'startGcMs', stat),
    heapPerSessionBytes: summarise(all, 'heapPerSessionBytes', stat),
    stormMs: summarise(all, 'stormMs', stat),
    stormCpuMs: summarise(all, 'stormCpuMs', stat),
    stormDelayMs: summarise(all, 'stormDelayMs', stat),
    stormGcMs: summarise(all, 'stormGcMs', stat),
    stopMs: summarise(all, 'stopMs', stat),
    stopReconnectingMs: summarise(all, 'stopReconnectingMs', stat),
  };
}

const yes = (ok: boolean): string => (ok ? 'yes' : 'NO');

/** One figure of the report: how to read it, and the target it is judged against (if any). */
interface Line {
  readonly label: string;
  readonly key: keyof Figures;
  readonly decimals: number;
  readonly scale?: number;
  readonly target?: string;
  /** Judges warden's value (and bare's, for ratio targets); returns undefined when it cannot. */
  readonly met?: (w: number, b: number) => boolean | undefined;
}

/** Within the ratio target; undefined without a bare figure (`--only warden`). */
const withinRatio = (w: number, b: number): boolean | undefined =>
  Number.isNaN(b) ? undefined : w <= TARGET.maxRatio * b;

const LINES: readonly Line[] = [
  {
    label: 'start: all ready (ms)',
    key: 'readyMs',
    decimals: 1,
    target: `< ${fmt(TARGET.readyMs)}, ≤ ${TARGET.maxRatio}× bare`,
    met: (w, b) => (w < TARGET.readyMs ? withinRatio(w, b) : false),
  },
  { label: '  main-thread CPU (ms)', key: 'readyCpuMs', decimals: 0 },
  { label: '  sync part: create + start (ms)', key: 'startSyncMs', decimals: 1 },
  { label: '  GC pauses (ms)', key: 'startGcMs', decimals: 0 },
  { label: '  worst event-loop delay (ms)', key: 'startDelayMs', decimals: 1 },
  {
    label: 'heap per session (KB)',
    key: 'heapPerSessionBytes',
    decimals: 2,
    scale: 1024,
    target: `< ${TARGET.heapKB}`,
    met: (w) => w < TARGET.heapKB,
  },
  {
    label: 'storm: all ready again (ms)',
    key: 'stormMs',
    decimals: 1,
    target: `≤ ${TARGET.maxRatio}× bare`,
    met: withinRatio,
  },
  { label: '  main-thread CPU (ms)', key: 'stormCpuMs', decimals: 0 },
  { label: '  GC pauses (ms)', key: 'stormGcMs', decimals: 0 },
  {
    label: '  worst event-loop delay (ms)',
    key: 'stormDelayMs',
    decimals: 1,
    target: `< ${TARGET.stormDelayMs}`,
    met: (w) => w < TARGET.stormDelayMs,
  },
  { label: 'stop all (ms)', key: 'stopMs', decimals: 1 },
  { label: 'stop all while reconnecting (ms)', key: 'stopReconnectingMs', decimals: 1 },
];

function report(n: number, w: Figures | undefined, b: Figures | undefined): string {
  const rows = LINES.map((line) => {
    const scale = line.scale ?? 1;
    const wv = w ? w[line.key] / scale : Number.NaN;
    const bv = b ? b[line.key] / scale : Number.NaN;
    const verdict = line.met && !Number.isNaN(wv) ? line.met(wv, bv) : undefined;
    return [
      line.label,
      fmt(wv, line.decimals),
      fmt(bv, line.decimals),
      ratio(wv, bv),
      line.target ?? '',
      verdict === undefined ? '' : yes(verdict),
    ];
  });
  return table([`N = ${fmt(n)}`, 'warden', 'bare', 'warden/bare', 'target (for 10k)', 'met'], rows);
}

/** Per-1,000-session figures across N: flat columns mean linear growth. */
function growth(results: ReadonlyArray<{ n: number; w?: Figures; b?: Figures }>): string {
  const per1k = (f: Figures | undefined, key: keyof Figures, n: number): string =>
    f ? fmt((f[key] / n) * 1000, 1) : '—';
  return table(
    [
      'N',
      'warden ready ms/1k',
      'CPU ms/1k',
      'warden storm ms/1k',
      'CPU ms/1k',
      'bare ready ms/1k',
      'bare storm ms/1k',
    ],
    results.map(({ n, w, b }) => [
      fmt(n),
      per1k(w, 'readyMs', n),
      per1k(w, 'readyCpuMs', n),
      per1k(w, 'stormMs', n),
      per1k(w, 'stormCpuMs', n),
      per1k(b, 'readyMs', n),
      per1k(b, 'stormMs', n),
    ]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000,10000' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      stat: { type: 'string', default: 'median' },
      'no-warmup': { type: 'boolean', default: false },
      'no-storm': { type: 'boolean', default: false },
    },
  });
  const stat = values.stat;
  if (stat !== 'median' && stat !== 'min') throw new Error(`--stat wants 'median' or 'min', got '${stat}'`);
  const ns = values.n
    .split(',')
    .map((s) => Number(s.trim().replace(/_/g, '')))
    .filter((x) => Number.isInteger(x) && x > 0);
  if (ns.length === 0) {
    throw new Error(`--n wants a comma-separated list of positive integers, got '${values.n}'`);
  }
  const runs = Math.max(1, Math.floor(Number(values.runs)) || 1);
  const only = values.only;
  if (only !== undefined && only !== 'warden' && only !== 'bare') {
    throw new Error(`--only wants 'warden' or 'bare', got '${only}'`);
  }
  const contenders = [warden, bare].filter((c) => only === undefined || c.name === only);

  gc();
  console.log(
    `warden supervision bench: Node ${process.version}, ${runs} run(s) per figure (${stat === 'min' ? 'best' : 'median'} shown), ` +
      `retry ${BACKOFF_MS} ms without jitter, GC ${gcExposedByFlag() ? 'exposed by --expose-gc' : 'enabled at run time'}`,
  );
  if (!values['no-warmup']) {
    for (const c of contenders) await c.run(500, { storm: true });
    await settledHeapUsed();
  }

  const results: Array<{ n: number; w?: Figures; b?: Figures }> = [];
  for (const n of ns) {
    let w: Figures | undefined;
    let b: Figures | undefined;
    for (const c of contenders) {
      const f = await measure(c, n, runs, stat, !values['no-storm']);
      if (c.name === 'warden') w = f;
      else b = f;
    }
    console.log(`\n${report(n, w, b)}`);
    results.push({ n, ...(w ? { w } : {}), ...(b ? { b } : {}) });
  }
  if (ns.length > 1) {
    console.log('\nGrowth per 1,000 sessions (flat columns = linear growth):');
    console.log(growth(results));
  }
}

// No process.exit on success: the run must end by itself, which shows nothing was left running.
main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
