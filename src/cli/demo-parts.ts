/**
 * The parts of `warden demo`: a simulated PLC connector that fails and recovers on a cycle, a
 * connector whose session is a streamed call through a request-plane client, and the endpoints
 * the demo serves.
 */
import { z } from 'zod';
import type { Connector, Session, SessionContext } from '../core/connector.js';
import { defineConnector } from '../core/connector.js';
import { isWardenError, messageOf } from '../core/errors.js';
import type { EndpointHandler, RequestContext, RequestPlaneClient } from '../core/request-plane.js';

/** An error shaped like the ones `node:net` raises. */
interface NetError extends Error {
  code?: string;
}

function netError(message: string, code: string): NetError {
  return Object.assign(new Error(message), { code });
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** What the simulated PLC's session hands out while ready. */
export interface PlcHandle {
  readonly endpoint: string;
  read(register: number): number;
}

/** A flaky PLC connector, with a way to make its live session fail now. */
export interface FlakyPlc extends Connector<PlcHandle> {
  /** Makes the ready session fail with a connection reset; false when no session is ready. */
  injectFault(summary?: string): boolean;
}

const FlakyPlcOptions = z.object({
  host: z.string().min(1).default('10.0.0.5'),
  port: z.number().int().min(1).max(65_535).default(502),
  /** How long a session stays up before the simulated PLC drops it; 0: until a fault is injected. */
  upMs: z.number().int().nonnegative().default(15_000),
  /** How many connection attempts are refused after each drop. */
  refusals: z.number().int().nonnegative().default(2),
});

/**
 * A simulated PLC: each session stays up for `upMs`, then the PLC "resets" the connection; the next
 * `refusals` attempts are refused (it is rebooting), then one succeeds. So the demo shows ready →
 * reconnecting with a failure report, a few refused attempts with backoff, and recovery, forever.
 */
export const flakyPlcConnector = defineConnector({
  name: 'flaky-plc',
  options: FlakyPlcOptions,
  create: ({ host, port, upMs, refusals }): FlakyPlc => {
    let refusalsLeft = 0;
    let fault: ((err: Error) => void) | undefined;
    const endpoint = `modbus://${host}:${port}`;
    return {
      async connect(ctx: SessionContext): Promise<Session<PlcHandle>> {
        await sleep(40, ctx.signal); // the TCP handshake
        if (refusalsLeft > 0) {
          refusalsLeft--;
          throw netError(
            `connect ECONNREFUSED ${host}:${port} (the simulated PLC is rebooting)`,
            'ECONNREFUSED',
          );
        }
        return {
          handle: { endpoint, read: (register) => 1000 + (register % 1000) },
          init: (initCtx) => sleep(20, initCtx.signal), // the identification request
          run: (runCtx) =>
            new Promise((resolve, reject) => {
              const timer =
                upMs > 0
                  ? setTimeout(() => {
                      refusalsLeft = refusals;
                      fail(
                        netError(
                          `read ECONNRESET: the PLC at ${endpoint} dropped the connection`,
                          'ECONNRESET',
                        ),
                      );
                    }, upMs)
                  : undefined;
              const fail = (err: Error): void => {
                clearTimeout(timer);
                fault = undefined;
                reject(err);
              };
              fault = fail;
              runCtx.signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(timer);
                  if (fault === fail) fault = undefined;
                  resolve({ type: 'disconnected' });
                },
                { once: true },
              );
            }),
        };
      },
      classifyError: (_phase, err) =>
        ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(codeOf(err) ?? '')
          ? 'retryable'
          : 'fatal',
      errorCode: codeOf,
      injectFault(summary = `read ECONNRESET: the PLC at ${endpoint} reset the connection (fault injected)`) {
        if (!fault) return false;
        refusalsLeft = 1;
        fault(netError(summary, 'ECONNRESET'));
        return true;
      },
    };
  },
});

/** The last tick a streaming caller received. */
export interface TickerHandle {
  readonly ticks: () => number;
}

/**
 * A connector whose session is one long streamed call: connect opens the call, init waits for the
 * first chunk (that is "ready"), run reads chunks until the stream ends or fails. Losing the server
 * makes the session reconnect with backoff like any other connection.
 */
export function streamingCaller(options: {
  readonly makeClient: () => RequestPlaneClient;
  readonly address: () => string;
  readonly path: { namespace: string; component: string; endpoint: string };
  readonly body: unknown;
}): Connector<TickerHandle> {
  return {
    async connect(ctx: SessionContext): Promise<Session<TickerHandle>> {
      const client = options.makeClient();
      let ticks = 0;
      const controller = new AbortController();
      const abort = (): void => controller.abort(ctx.signal.reason);
      ctx.signal.addEventListener('abort', abort, { once: true });
      const stream = client.call({ address: options.address(), ...options.path }, options.body, {
        signal: controller.signal,
      });
      const it = stream[Symbol.asyncIterator]();
      return {
        handle: { ticks: () => ticks },
        async init() {
          const first = await it.next();
          if (first.done) throw new Error('the stream ended before its first chunk');
          ticks++;
        },
        async run(runCtx) {
          for (;;) {
            const next = await it.next();
            if (next.done) return { type: 'disconnected' };
            ticks++;
            runCtx.log.debug({ chunk: next.value }, 'tick');
          }
        },
        async close() {
          ctx.signal.removeEventListener('abort', abort);
          controller.abort();
          await client.close().catch(() => {});
        },
      };
    },
    // Lost connections, a stopping server and overload heal; anything else (a bad path) does not.
    classifyError: (_phase, err) =>
      isWardenError(err) &&
      ![
        'WARDEN_CONNECTION_FAILED',
        'WARDEN_CONNECTION_CLOSED',
        'WARDEN_ENDPOINT_DRAINING',
        'WARDEN_OVERLOADED',
        'WARDEN_SERVER_NOT_RUNNING',
        'WARDEN_DEADLINE_EXCEEDED',
      ].includes(err.code)
        ? 'fatal'
        : 'retryable',
    errorSummary: (err) => `the ticks stream failed: ${messageOf(err)}`,
    errorCode: (err) => (isWardenError(err) ? err.code : codeOf(err)),
  };
}

const TicksRequest = z
  .object({
    /** Milliseconds between ticks (default 1000). */
    intervalMs: z.number().int().min(10).max(60_000).default(1000),
    /** Ticks to send before ending (default: until cancelled). */
    count: z.number().int().positive().optional(),
  })
  .strict();

/** `demo/clock/ticks`: streams `{ tick, at }` every `intervalMs` until `count` or until cancelled. */
export const ticksHandler: EndpointHandler = async function* ticks(request: unknown, ctx: RequestContext) {
  const { intervalMs, count } = TicksRequest.parse(request ?? {});
  for (let tick = 1; count === undefined || tick <= count; tick++) {
    yield { tick, at: new Date().toISOString() };
    if (count !== undefined && tick === count) return;
    await sleep(intervalMs, ctx.signal);
  }
};

/** The schema of `demo/clock/ticks` requests (the registry checks bodies against it). */
export const ticksSchema = TicksRequest.nullish();

/** `demo/clock/now`: one chunk, the server's time. */
export const nowHandler: EndpointHandler = async () => ({ now: new Date().toISOString() });
