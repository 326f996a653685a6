/**
 * A supervised connector that is refused twice and then works.
 *
 * Run:  npx tsx examples/flaky-connector.ts          (readable console output)
 *       npx tsx examples/flaky-connector.ts --json   (pino's JSON lines, as a service would log)
 *
 * (`npm run demo` runs the bigger demo with the live dashboard: see docs/cli.md.)
 *
 * What it shows:
 *  - `defineConnector` with zod-validated options;
 *  - a connector that classifies errors: a refused connection is `retryable`, anything else `fatal`,
 *    and hands out a stable code (`ECONNREFUSED`) for alerting;
 *  - the supervisor retrying with backoff (200 ms, then 400 ms), each transition with its failure
 *    report (`sup.on('transition')`);
 *  - waiting for `ready`, using the session's handle, and stopping cleanly: the session's signal is
 *    aborted, `close()` runs once, and the process exits by itself with code 0.
 */
import { type Logger, pino } from 'pino';
import { z } from 'zod';
import {
  type ChildStatus,
  createSupervisor,
  defineConnector,
  type FailureReport,
  type Session,
  type SessionContext,
  type SupervisorEventMap,
} from '../src/index.js';

/** The data-plane handle the session publishes while it is ready. */
interface PlcHandle {
  readonly endpoint: string;
  /** Reads one holding register (simulated). */
  read(register: number): Promise<number>;
}

/** An error shaped like the ones `node:net` raises, so the connector handles real ones the same way. */
interface NetError extends Error {
  code?: string;
}

function refused(host: string, port: number): NetError {
  return Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), {
    code: 'ECONNREFUSED',
    errno: -111,
    syscall: 'connect',
    address: host,
    port,
  });
}

/** Network errors worth retrying: the other side is down, restarting or slow. */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

const codeOf = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && typeof (err as NetError).code === 'string'
    ? (err as NetError).code
    : undefined;

/**
 * A simulated PLC connector: the first `failures` connection attempts are refused, later ones
 * succeed. A real connector would open a socket here, honouring `ctx.signal`.
 */
const flakyPlc = defineConnector({
  name: 'flaky-plc',
  options: z.object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535),
    /** How many connection attempts are refused before one succeeds. */
    failures: z.number().int().nonnegative().default(2),
  }),
  create: ({ host, port, failures }) => {
    let attempts = 0;
    return {
      async connect(ctx: SessionContext): Promise<Session<PlcHandle>> {
        attempts++;
        ctx.log.info({ host, port }, 'connecting');
        await delay(20, ctx.signal); // the TCP handshake
        if (attempts <= failures) throw refused(host, port);
        const endpoint = `tcp://${host}:${port}`;
        return {
          handle: {
            endpoint,
            read: async (register) => 1000 + (register % 1000),
          },
          // "Ready" means the PLC answered the identification request.
          init: async (initCtx) => {
            await delay(10, initCtx.signal);
          },
          // Serve until the supervisor abandons this attempt (stop or reconnect).
          run: (runCtx) =>
            new Promise((resolve) => {
              runCtx.signal.addEventListener('abort', () => resolve({ type: 'disconnected' }), {
                once: true,
              });
            }),
          close: async () => {
            say(`  session to ${endpoint} closed`);
          },
        };
      },
      classifyError: (_phase, err) => (RETRYABLE_CODES.has(codeOf(err) ?? '') ? 'retryable' : 'fatal'),
      errorCode: codeOf,
    };
  },
});

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---- output --------------------------------------------------------------------------------------

const json = process.argv.includes('--json');
const startedAt = Date.now();

/** In --json mode every line is pino's; otherwise plain, readable console lines. */
const logger: Logger | undefined = json
  ? pino({ level: 'info', base: { demo: 'flaky-connector' } })
  : undefined;

function say(line: string): void {
  if (logger) logger.info(line.trim());
  else console.log(line);
}

function describeFailure(f: FailureReport): string {
  const code = f.code ? ` [${f.code}]` : '';
  const end = f.exhausted ? ', retries exhausted' : '';
  return `${f.summary}${code} (phase ${f.phase}, ${f.kind}, attempt ${f.attempt}${end})`;
}

function printTransition(e: SupervisorEventMap['transition']): void {
  const t = `+${String(Date.now() - startedAt).padStart(4)} ms`;
  say(`[${t}] ${e.child}: ${e.from} → ${e.to} (attempt ${e.attempt})`);
  if (e.failure) say(`             failure: ${describeFailure(e.failure)}`);
}

function describeStatus(s: ChildStatus): string {
  const last = s.lastFailure ? `; last failure: ${describeFailure(s.lastFailure)}` : '';
  return `${s.state} on attempt ${s.attempt}, ${s.restarts} restart(s)${last}`;
}

// ---- the demo ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const sup = createSupervisor({
    id: 'demo',
    // With --json the supervisor logs its own transitions through pino; the console mode prints
    // them from the 'transition' event below instead, so nothing is said twice.
    ...(logger ? { logger } : {}),
    children: [
      {
        id: 'plc',
        connector: flakyPlc.create({ host: '127.0.0.1', port: 5020, failures: 2 }),
        retry: { initialIntervalMs: 200, multiplier: 2, randomizationFactor: 0, maxRetries: 5 },
      },
    ],
  });
  if (!logger) sup.on('transition', printTransition);
  sup.on('failed', ({ child, report }) => say(`${child} FAILED: ${describeFailure(report)}`));

  say("supervising 'plc': the first two connections are refused, the third works");
  sup.start();

  const status = await sup.waitFor('plc', 'ready', { timeoutMs: 5000 });
  say(`plc is ready: ${describeStatus(status)}`);

  const handle = sup.handle<PlcHandle>('plc');
  if (!handle) throw new Error('plc is ready but has no handle');
  say(`handle: ${handle.endpoint}; read(40001) = ${await handle.read(40_001)}`);

  say('stopping');
  const output = await sup.stop({ timeoutMs: 5000 });
  say(`supervisor ${output.status}; plc is ${sup.status('plc')?.state}`);
}

// No process.exit on success: the process ends by itself once the supervisor has stopped, which
// shows that nothing (timer, socket, actor) was left running.
main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
