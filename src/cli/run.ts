/**
 * `warden run <config.json>`: starts supervisors, transport servers with their endpoints (published
 * to the configured discovery) and the dashboard from a validated config file.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type ChildSpec, createSupervisor, type Supervisor } from '../actors/supervisor.js';
import type { TransportServer } from '../actors/transport-server.js';
import { messageOf } from '../core/errors.js';
import { SystemHealth } from '../core/health.js';
import { type EndpointHandler, newInstanceId } from '../core/request-plane.js';
import type { ValidationIssue } from '../core/validate.js';
import type { Discovery } from '../discovery/discovery.js';
import type { NatsKvDiscoveryOptions } from '../discovery/nats-kv.js';
import { createDashboard, type Dashboard } from '../inspect/dashboard.js';
import { createMetrics, type Metrics } from '../inspect/metrics.js';
import { watchSupervisorHealth } from '../inspect/status-server.js';
import { CliError, ExitCode, parse } from './args.js';
import {
  type ChildConfig,
  type Config,
  ConfigError,
  configDir,
  type DiscoveryConfig,
  ModuleLoader,
  parseConfig,
} from './config.js';
import { exitWhenIdle, stopOnSignal } from './lifecycle.js';
import { createCliLogger } from './log.js';
import { RUN_USAGE } from './usage.js';

/** A system started from a config. */
export interface RunningSystem {
  readonly supervisors: readonly Supervisor[];
  readonly servers: readonly TransportServer[];
  /** The config's `discovery`, where every server publishes its endpoints; closed by `stop()`. */
  readonly discovery: Discovery | undefined;
  readonly dashboard: Dashboard | undefined;
  readonly health: SystemHealth;
  readonly metrics: Metrics;
  stop(): Promise<void>;
}

/**
 * Builds and starts the system a parsed config describes. Throws {@link ConfigError} listing every
 * module, connector-option and transport-option problem before anything starts.
 */
export async function startFromConfig(config: Config, file: string, log: Logger): Promise<RunningSystem> {
  const issues: ValidationIssue[] = [];
  const loader = new ModuleLoader(configDir(file), issues);
  const health = new SystemHealth();
  const metrics = createMetrics();

  const buildChildren = async (children: readonly ChildConfig[], where: string): Promise<ChildSpec[]> => {
    const specs: ChildSpec[] = [];
    for (const [j, c] of children.entries()) {
      const at = `${where}.${j}`;
      const common = {
        id: c.id,
        ...(c.restart ? { restart: c.restart } : {}),
        ...(c.shutdownMs !== undefined ? { shutdownMs: c.shutdownMs } : {}),
      };
      if (c.supervisor) {
        const nested = await buildChildren(c.supervisor.children, `${at}.supervisor.children`);
        specs.push({
          ...common,
          supervisor: {
            strategy: c.supervisor.strategy,
            intensity: c.supervisor.intensity,
            children: nested,
          },
        });
        continue;
      }
      const connector = await loader.connector(c, at);
      if (connector) specs.push({ ...common, connector, ...(c.retry ? { retry: c.retry } : {}) });
    }
    return specs;
  };

  const supervisors: Supervisor[] = [];
  for (const [i, s] of config.supervisors.entries()) {
    const children = await buildChildren(s.children, `supervisors.${i}.children`);
    try {
      supervisors.push(
        createSupervisor({ id: s.id, strategy: s.strategy, intensity: s.intensity, children, logger: log }),
      );
    } catch (err) {
      loader.optionIssues(err, `supervisors.${i}`);
    }
  }

  let discovery: Discovery | undefined;
  if (config.discovery) {
    try {
      discovery = await createDiscovery(config.discovery, log);
    } catch (err) {
      loader.optionIssues(err, 'discovery');
    }
  }

  const servers: TransportServer[] = [];
  const endpoints: Array<{
    server: TransportServer;
    reg: Parameters<TransportServer['registerEndpoint']>[0];
  }> = [];
  for (const [i, t] of config.transports.entries()) {
    let server: TransportServer | undefined;
    if (config.discovery && 'discovery' in t.options) {
      issues.push({
        path: `transports.${i}.options.discovery`,
        message: 'the top-level "discovery" of the config applies to every transport; remove this one',
      });
    } else {
      try {
        server = await createServer(t.type, {
          ...t.options,
          logger: log,
          observer: metrics.observer(t.type),
          ...(discovery ? { discovery } : {}),
        });
        servers.push(server);
      } catch (err) {
        loader.optionIssues(err, `transports.${i}.options`);
      }
    }
    for (const [j, e] of t.endpoints.entries()) {
      const where = `transports.${i}.endpoints.${j}.handler`;
      const handler = await loader.load(e.handler, e.export, where);
      if (handler === undefined) continue;
      if (typeof handler !== 'function') {
        issues.push({
          path: where,
          message: `export '${e.export}' of ${e.handler} is not a function (an endpoint handler)`,
        });
        continue;
      }
      if (server)
        endpoints.push({
          server,
          reg: {
            namespace: e.namespace,
            component: e.component,
            endpoint: e.endpoint,
            instanceId: e.instanceId ?? newInstanceId(),
            handler: handler as EndpointHandler,
            health,
          },
        });
    }
  }

  if (issues.length > 0) {
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    await discovery?.close().catch(() => {});
    throw new ConfigError(file, issues);
  }

  const started: TransportServer[] = [];
  const unwatch: Array<() => void> = [];
  let dashboard: Dashboard | undefined;
  const stop = async (): Promise<void> => {
    await dashboard?.close();
    for (const off of unwatch.splice(0)) off();
    await Promise.all(supervisors.map((s) => s.stop({ timeoutMs: 30_000 })));
    // Servers withdraw their endpoints from discovery before they drain; then it can close.
    await Promise.all(started.map((s) => s.stop()));
    await discovery?.close();
  };
  try {
    for (const server of servers) {
      await server.start();
      started.push(server);
    }
    for (const { server, reg } of endpoints) await server.registerEndpoint(reg);
    for (const sup of supervisors) {
      unwatch.push(watchSupervisorHealth(sup, health), metrics.watchSupervisor(sup));
    }
    let ready = false;
    const check = (): void => {
      const now = health.isReady();
      if (now === ready) return;
      ready = now;
      if (now) log.info({ event: 'ready' }, 'system ready: every session and endpoint is ready');
      else log.warn({ event: 'notready', health: health.report() }, 'system not ready');
    };
    unwatch.push(health.subscribe(check));
    for (const sup of supervisors) sup.start();
    if (config.dashboard.enabled) {
      dashboard = await createDashboard({
        title: config.title,
        supervisors,
        servers,
        health,
        metrics,
        host: config.dashboard.host,
        port: config.dashboard.port,
        logger: log,
      });
      log.info({ url: dashboard.url }, `dashboard: ${dashboard.url}`);
    }
    check();
    return { supervisors, servers, discovery, dashboard, health, metrics, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/**
 * The discovery a config names. NatsKvDiscovery validates its own options (its errors name the
 * field) and connects on first use: the first endpoint registered.
 */
async function createDiscovery(config: DiscoveryConfig, log: Logger): Promise<Discovery> {
  if (config.type === 'memory') {
    const { MemoryDiscovery } = await import('../discovery/memory.js');
    log.info({ discovery: 'memory' }, 'discovery: memory (this process only)');
    return new MemoryDiscovery();
  }
  const { NatsKvDiscovery } = await import('../discovery/nats-kv.js');
  const { type: _type, ...fields } = config;
  // JSON fields as they are (undefined ones left out): the discovery's own schema checks them.
  const options = Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as NatsKvDiscoveryOptions;
  const discovery = new NatsKvDiscovery({ ...options, logger: log });
  const servers = typeof config.servers === 'string' ? config.servers : config.servers.join(',');
  log.info(
    { discovery: 'nats-kv', servers, bucket: config.bucket ?? 'warden-instances' },
    `discovery: NATS KV bucket '${config.bucket ?? 'warden-instances'}' at ${servers}`,
  );
  return discovery;
}

async function createServer(
  type: 'tcp' | 'http2' | 'nats',
  options: Record<string, unknown>,
): Promise<TransportServer> {
  // Options come from JSON and are validated by each server's own schema (its errors name the field).
  if (type === 'tcp') {
    const { createTcpServer } = await import('../transports/tcp/index.js');
    return createTcpServer(options as Parameters<typeof createTcpServer>[0]);
  }
  if (type === 'http2') {
    const { createHttp2Server } = await import('../transports/http2/index.js');
    return createHttp2Server(options as Parameters<typeof createHttp2Server>[0]);
  }
  const { createNatsServer } = await import('../transports/nats/index.js');
  return createNatsServer(options as Parameters<typeof createNatsServer>[0]);
}

/** Runs `warden run`. */
export async function runCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, RUN_USAGE);
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return ExitCode.ok;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0)
    throw new CliError(`warden run needs one config file\n\n${RUN_USAGE}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the config file ${file}: ${messageOf(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`the config file ${file} is not valid JSON: ${messageOf(err)}`);
  }
  let system: RunningSystem;
  let log: Logger;
  try {
    const config = parseConfig(json, file);
    log = createCliLogger({ json: values.json === true, level: config.logLevel });
    system = await startFromConfig(config, file, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.report());
      return ExitCode.usage;
    }
    throw new CliError(`the system could not start: ${messageOf(err)}`, ExitCode.failure);
  }
  const code = await stopOnSignal(log, () => system.stop());
  exitWhenIdle(code, log);
  return code;
}
