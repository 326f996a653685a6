/**
 * `warden demo`: the embedded default system, and {@link startDemo} to run it in-process.
 */
import { type Logger, pino } from 'pino';
import { createSupervisor, type Supervisor } from '../actors/supervisor.js';
import type { TransportServer } from '../actors/transport-server.js';
import { SystemHealth } from '../core/health.js';
import { newInstanceId } from '../core/request-plane.js';
import { createDashboard, type Dashboard } from '../inspect/dashboard.js';
import { createMetrics } from '../inspect/metrics.js';
import { watchSupervisorHealth } from '../inspect/status-server.js';
import { createHttp2Client, createHttp2Server } from '../transports/http2/index.js';
import { createNatsServer, type NatsServer } from '../transports/nats/index.js';
import { createTcpClient, createTcpServer } from '../transports/tcp/index.js';
import { CliError, ExitCode, intOption, parse } from './args.js';
import {
  type FlakyPlc,
  flakyPlcConnector,
  nowHandler,
  streamingCaller,
  ticksHandler,
  ticksSchema,
} from './demo-parts.js';
import { exitWhenIdle, stopOnSignal } from './lifecycle.js';
import { createCliLogger } from './log.js';
import { DEMO_USAGE } from './usage.js';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Dashboard port (default 0: any free port). */
  readonly port?: number;
  /** Dashboard host (default `127.0.0.1`). */
  readonly host?: string;
  /** NATS server for the NATS transport (default `NATS_URL`, else `nats://127.0.0.1:4222`). */
  readonly natsUrl?: string;
  /** Where the system logs (default: silent). */
  readonly logger?: Logger;
  /**
   * How long the simulated PLC stays up before it drops the connection (default 15000 ms);
   * 0: only when a fault is injected with `demo.fail('plc')`.
   */
  readonly plcUpMs?: number;
}

/** A running demo system. */
export interface Demo {
  readonly dashboardUrl: string;
  /** The demo's supervisor: children `plc`, `tcp-ticks`, `h2-ticks`. */
  readonly supervisor: Supervisor;
  /** The NATS transport server; its connection is the child `connection` of `natsServer.supervisor`. */
  readonly natsServer: NatsServer;
  readonly servers: readonly TransportServer[];
  readonly dashboard: Dashboard;
  readonly health: SystemHealth;
  /** Makes the simulated PLC's ready session fail now (a connection reset); false if it is not ready. */
  fail(child: 'plc', summary?: string): boolean;
  /** Stops everything: dashboard, supervisor, servers. */
  stop(): Promise<void>;
}

/** The namespace and component of the demo's endpoints. */
export const DEMO_PATH = { namespace: 'demo', component: 'clock' } as const;

/**
 * Starts the demo system: a supervisor with a flaky PLC connector and two sessions that each hold
 * a streamed call (one through the TCP client, one through the HTTP/2 client) to the `ticks`
 * endpoint; TCP, HTTP/2 and NATS servers serving `demo/clock/ticks` and `demo/clock/now`; and the
 * dashboard. Without a reachable NATS server, the NATS connection shows as reconnecting, with the
 * reason in its failure report.
 *
 * @example
 * ```ts
 * const demo = await startDemo({ port: 0 });
 * console.log(demo.dashboardUrl);
 * await demo.supervisor.waitFor('plc', 'ready');
 * demo.fail('plc');
 * await demo.stop();
 * ```
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const log = options.logger ?? pino({ level: 'silent' });
  const natsUrl = options.natsUrl ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const health = new SystemHealth();
  const metrics = createMetrics();

  const tcp = createTcpServer({ logger: log, observer: metrics.observer('tcp'), drainMs: 500 });
  const http2 = createHttp2Server({ logger: log, observer: metrics.observer('http2'), drainMs: 500 });
  const nats = createNatsServer({
    servers: natsUrl,
    logger: log,
    observer: metrics.observer('nats'),
    drainMs: 500,
    // A missing NATS server is expected in the demo: retry forever, slowly.
    retry: { initialIntervalMs: 2000, maxIntervalMs: 15_000, maxRetries: null },
  });
  const servers: TransportServer[] = [tcp, http2, nats];
  const started: TransportServer[] = [];
  let supervisor: Supervisor | undefined;
  let dashboard: Dashboard | undefined;
  const unwatch: Array<() => void> = [];
  const stop = async (): Promise<void> => {
    await dashboard?.close();
    for (const off of unwatch.splice(0)) off();
    await supervisor?.stop({ timeoutMs: 10_000 });
    await Promise.all(started.map((s) => s.stop({ drainMs: 500 })));
  };

  try {
    for (const server of servers) {
      await server.start();
      started.push(server);
      for (const [endpoint, handler] of [
        ['ticks', ticksHandler],
        ['now', nowHandler],
      ] as const) {
        await server.registerEndpoint({
          ...DEMO_PATH,
          endpoint,
          handler,
          instanceId: newInstanceId(),
          health,
          ...(endpoint === 'ticks' ? { schema: ticksSchema } : {}),
        });
      }
    }
    if (!options.natsUrl && !process.env.NATS_URL) {
      log.warn(
        { nats: natsUrl },
        `NATS_URL is not set: the NATS server's connection dials ${natsUrl} and keeps reconnecting until a nats-server answers there`,
      );
    }

    const plc = flakyPlcConnector.create({ upMs: options.plcUpMs ?? 15_000 }) as FlakyPlc;
    const retry = { initialIntervalMs: 500, maxIntervalMs: 4000, maxRetries: null };
    supervisor = createSupervisor({
      id: 'demo',
      logger: log,
      children: [
        {
          id: 'plc',
          connector: plc,
          // Slow enough to watch: the PLC "reboots" for a few seconds after each drop.
          retry: { initialIntervalMs: 1500, maxIntervalMs: 6000, maxRetries: null },
          restart: 'permanent',
        },
        {
          id: 'tcp-ticks',
          connector: streamingCaller({
            makeClient: () => createTcpClient({ connectTimeoutMs: 2000 }),
            address: () => tcp.address(),
            path: { ...DEMO_PATH, endpoint: 'ticks' },
            body: { intervalMs: 1000 },
          }),
          retry,
          restart: 'permanent',
        },
        {
          id: 'h2-ticks',
          connector: streamingCaller({
            makeClient: () => createHttp2Client(),
            address: () => http2.address(),
            path: { ...DEMO_PATH, endpoint: 'ticks' },
            body: { intervalMs: 1000 },
          }),
          retry,
          restart: 'permanent',
        },
      ],
    });
    unwatch.push(
      watchSupervisorHealth(supervisor, health),
      // The NATS session is optional in the demo: it shows in /health but does not make it fail.
      watchSupervisorHealth(nats.supervisor, health, false),
      metrics.watchSupervisor(supervisor),
      metrics.watchSupervisor(nats.supervisor),
    );
    supervisor.start();
    dashboard = await createDashboard({
      title: 'warden demo',
      supervisors: [supervisor, nats.supervisor],
      servers,
      health,
      metrics,
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.host !== undefined ? { host: options.host } : {}),
      logger: log,
    });
    const sup = supervisor;
    const board = dashboard;
    return {
      dashboardUrl: board.url,
      supervisor: sup,
      natsServer: nats,
      servers,
      dashboard: board,
      health,
      fail: (child, summary) => (child === 'plc' ? plc.injectFault(summary) : false),
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/** Runs `warden demo`; resolves with the exit code once stopped by a signal. */
export async function demoCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { port: { type: 'string' }, host: { type: 'string' }, json: { type: 'boolean' } },
    DEMO_USAGE,
  );
  if (values.help) {
    process.stdout.write(`${DEMO_USAGE}\n`);
    return ExitCode.ok;
  }
  if (positionals.length > 0) throw new CliError(`warden demo takes no arguments\n\n${DEMO_USAGE}`);
  const port = intOption(values.port, 'port', 0, 65_535);
  const log = createCliLogger({ json: values.json === true });
  const demo = await startDemo({
    logger: log,
    ...(port !== undefined ? { port } : {}),
    ...(typeof values.host === 'string' ? { host: values.host } : {}),
  });
  log.info({ url: demo.dashboardUrl }, `dashboard: ${demo.dashboardUrl}`);
  log.info(
    `try: npm run warden -- call ${demo.servers[0]?.address()} demo/clock/ticks '{"count":3,"intervalMs":300}'   (Ctrl-C stops the demo)`,
  );
  const code = await stopOnSignal(log, () => demo.stop());
  exitWhenIdle(code, log);
  return code;
}
