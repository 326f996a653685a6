/**
 * The config file of `warden run`: its zod schema, and the checks that need the file system
 * (modules exist and export the right things, connector and transport options validate).
 * Every problem is collected with its path, so a bad config is reported in one go.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { CHILD_ID_PATTERN, IntensitySchema, StrategySchema } from '../actors/supervisor-spec.js';
import type { Connector } from '../core/connector.js';
import { isWardenError, messageOf } from '../core/errors.js';
import { INSTANCE_ID_PATTERN, NAME_PATTERN } from '../core/request-plane.js';
import { RetryPolicySchema } from '../core/retry.js';
import { describeIssues, type ValidationIssue } from '../core/validate.js';

const ChildId = z
  .string()
  .regex(
    CHILD_ID_PATTERN,
    'must start with a letter or digit and use only letters, digits, _ - . : (max 128)',
  );
const Name = z.string().regex(NAME_PATTERN, 'must match ^[a-z0-9][a-z0-9_-]*$');
const ModulePath = z.string().min(1, 'must name a module file, relative to the config file');
const ExportName = z.string().min(1).default('default');
const Restart = z.enum(['permanent', 'transient', 'temporary']);

/** A child: a session (`connector`) or a nested supervisor (`supervisor`), never both. */
export interface ChildConfig {
  id: string;
  connector?: string;
  export: string;
  options: Record<string, unknown>;
  retry?: z.output<typeof RetryPolicySchema>;
  supervisor?: {
    strategy: z.output<typeof StrategySchema>;
    intensity: z.output<typeof IntensitySchema>;
    children: ChildConfig[];
  };
  restart?: z.output<typeof Restart>;
  shutdownMs?: number;
}

const ChildSchema: z.ZodType<ChildConfig> = z
  .object({
    id: ChildId,
    /** Module exporting a connector factory (`defineConnector`), relative to the config file. */
    connector: ModulePath.optional(),
    /** Which export of the module (default `default`). */
    export: ExportName,
    /** The connector's options, validated by its own schema. */
    options: z.record(z.string(), z.unknown()).default({}),
    retry: RetryPolicySchema.optional(),
    supervisor: z
      .object({
        strategy: StrategySchema.default('one-for-one'),
        intensity: IntensitySchema.default({ maxRestarts: 3, periodMs: 5000 }),
        get children() {
          return z.array(ChildSchema).default([]);
        },
      })
      .strict()
      .optional(),
    restart: Restart.optional(),
    shutdownMs: z.number().int().nonnegative().optional(),
  })
  .strict()
  .superRefine((child, ctx) => {
    if ((child.connector === undefined) === (child.supervisor === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either "connector" (a session) or "supervisor" (a nested supervisor)',
        path: child.connector === undefined ? ['connector'] : ['supervisor'],
      });
    }
  }) as z.ZodType<ChildConfig>;

const SupervisorSchema = z
  .object({
    id: ChildId,
    strategy: StrategySchema.default('one-for-one'),
    intensity: IntensitySchema.default({ maxRestarts: 3, periodMs: 5000 }),
    children: z.array(ChildSchema).default([]),
  })
  .strict();

const EndpointSchema = z
  .object({
    namespace: Name,
    component: Name,
    endpoint: Name,
    /** Module exporting the handler function, relative to the config file. */
    handler: ModulePath,
    export: ExportName,
    instanceId: z.string().regex(INSTANCE_ID_PATTERN, 'must be 16 lowercase hex digits').optional(),
  })
  .strict();

const TransportSchema = z
  .object({
    type: z.enum(['tcp', 'http2', 'nats']),
    /** Options of createTcpServer / createHttp2Server / createNatsServer (JSON-able ones). */
    options: z.record(z.string(), z.unknown()).default({}),
    endpoints: z.array(EndpointSchema).default([]),
  })
  .strict();

const Millis = z.number().int().positive();

/**
 * Where the config's transport servers publish their endpoints: `memory` (this process only: the
 * embedded default, for routers created next to the system) or `nats-kv` (JetStream KV, for
 * routers in other processes and machines). The `nats-kv` fields are the JSON-able options of
 * `NatsKvDiscovery`; the discovery itself checks how they relate (a lease longer than the
 * heartbeat, ...), and its problems are reported under `discovery`.
 */
export const DiscoveryConfigSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('memory') }).strict(),
  z
    .object({
      type: z.literal('nats-kv'),
      /** NATS server URL(s). */
      servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
        error: 'give the NATS server URL(s): a string such as "nats://127.0.0.1:4222", or an array of them',
      }),
      /** The KV bucket (default `warden-instances`). */
      bucket: z.string().min(1).optional(),
      /** Heartbeat interval, ms (default 1000). */
      heartbeatMs: Millis.optional(),
      /** A record whose heartbeat is older than this is gone, ms (default 3000). */
      leaseMs: Millis.optional(),
      /** How often watchers look for leases that ran out, ms. */
      sweepMs: Millis.optional(),
      /** Wait before a failed watch sync is tried again, ms (default 250). */
      resyncDelayMs: Millis.optional(),
      /** Max age of the bucket's messages when this process creates it, ms (0: forever). */
      maxAgeMs: z.number().int().nonnegative().optional(),
      /** Storage of a bucket this process creates (default `file`). */
      storage: z.enum(['file', 'memory']).optional(),
      /** nats.js connection options (user, pass, token, name, ...), passed through. */
      connectOptions: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
]);

/** The `discovery` section of a config. */
export type DiscoveryConfig = z.output<typeof DiscoveryConfigSchema>;

/** The schema of a `warden run` config file. */
export const ConfigSchema = z
  .object({
    $schema: z.string().optional(),
    /** Shown in the dashboard's title bar. */
    title: z.string().min(1).max(200).default('warden'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    supervisors: z.array(SupervisorSchema).default([]),
    transports: z.array(TransportSchema).default([]),
    /** Where every transport server publishes its endpoints (default: nowhere). */
    discovery: DiscoveryConfigSchema.optional(),
    dashboard: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(0),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 0 }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.supervisors.forEach((s, i) => {
      if (seen.has(s.id))
        ctx.addIssue({
          code: 'custom',
          message: `duplicate supervisor id '${s.id}'`,
          path: ['supervisors', i, 'id'],
        });
      seen.set(s.id, i);
      checkChildIds(s.children, ['supervisors', i, 'children'], ctx);
    });
    config.transports.forEach((t, i) => {
      const paths = new Set<string>();
      t.endpoints.forEach((e, j) => {
        const key = `${e.namespace}/${e.component}/${e.endpoint}`;
        if (paths.has(key))
          ctx.addIssue({
            code: 'custom',
            message: `endpoint ${key} is registered twice on this transport`,
            path: ['transports', i, 'endpoints', j],
          });
        paths.add(key);
      });
    });
  });

function checkChildIds(
  children: readonly ChildConfig[],
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const ids = new Set<string>();
  children.forEach((c, i) => {
    if (ids.has(c.id))
      ctx.addIssue({ code: 'custom', message: `duplicate child id '${c.id}'`, path: [...path, i, 'id'] });
    ids.add(c.id);
    if (c.supervisor) checkChildIds(c.supervisor.children, [...path, i, 'supervisor', 'children'], ctx);
  });
}

/** A parsed config. */
export type Config = z.output<typeof ConfigSchema>;

/** A config that failed: every problem with its path. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly ValidationIssue[],
  ) {
    super(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}`);
    this.name = 'ConfigError';
  }

  /** The report `warden run` prints: one `path: problem` line per issue. */
  report(): string {
    const lines = this.issues.map((i) => `  ${i.path}: ${i.message}`);
    return `warden run: invalid config ${this.file} (${this.issues.length} problem${this.issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}\n`;
  }
}

/** Validates the JSON of a config file; throws {@link ConfigError} with every schema problem. */
export function parseConfig(json: unknown, file: string): Config {
  const result = ConfigSchema.safeParse(json);
  if (!result.success) throw new ConfigError(file, describeIssues(result.error));
  return result.data;
}

/**
 * Loads the modules a config names and checks their exports, collecting problems into `issues`
 * under the config path that named the module. Each module is imported once.
 */
export class ModuleLoader {
  private readonly cache = new Map<string, Promise<Record<string, unknown> | Error>>();

  constructor(
    private readonly baseDir: string,
    readonly issues: ValidationIssue[],
  ) {}

  /** Imports `ref` (relative to the config file) and returns its export `name`, or records why not. */
  async load(ref: string, name: string, where: string): Promise<unknown> {
    const file = isAbsolute(ref) ? ref : resolve(this.baseDir, ref);
    if (!existsSync(file)) {
      this.issues.push({ path: where, message: `no such module: ${ref} (looked for ${file})` });
      return undefined;
    }
    let loading = this.cache.get(file);
    if (!loading) {
      loading = import(pathToFileURL(file).href).then(
        (m: Record<string, unknown>) => m,
        (err: unknown) => (err instanceof Error ? err : new Error(messageOf(err))),
      );
      this.cache.set(file, loading);
    }
    const mod = await loading;
    if (mod instanceof Error) {
      this.issues.push({ path: where, message: `cannot import ${ref}: ${mod.message}` });
      return undefined;
    }
    if (!(name in mod)) {
      const names = Object.keys(mod).join(', ') || 'nothing';
      this.issues.push({ path: where, message: `${ref} has no export '${name}' (it exports ${names})` });
      return undefined;
    }
    return mod[name];
  }

  /** Builds a connector from a module's factory (or takes a connector as is) with validated options. */
  async connector(child: ChildConfig, where: string): Promise<Connector<unknown> | undefined> {
    const value = await this.load(child.connector as string, child.export, `${where}.connector`);
    if (value === undefined) return undefined;
    const v = value as { create?: unknown; options?: unknown; connect?: unknown; classifyError?: unknown };
    if (typeof v.create === 'function') {
      try {
        return (v.create as (o: unknown) => Connector<unknown>)(child.options);
      } catch (err) {
        this.optionIssues(err, `${where}.options`);
        return undefined;
      }
    }
    if (typeof v.connect === 'function' && typeof v.classifyError === 'function') {
      if (Object.keys(child.options).length > 0)
        this.issues.push({
          path: `${where}.options`,
          message: 'this module exports a connector without options; remove "options"',
        });
      return value as Connector<unknown>;
    }
    this.issues.push({
      path: `${where}.connector`,
      message: `export '${child.export}' of ${child.connector} is not a connector factory (defineConnector) nor a connector`,
    });
    return undefined;
  }

  /** Records the problems of an options error under `where` (each zod issue at its own path). */
  optionIssues(err: unknown, where: string): void {
    const issues = isWardenError(err, 'WARDEN_INVALID_OPTIONS')
      ? (err.details?.issues as ValidationIssue[] | undefined)
      : undefined;
    if (issues && issues.length > 0) {
      for (const i of issues)
        this.issues.push({ path: i.path === '(root)' ? where : `${where}.${i.path}`, message: i.message });
    } else {
      this.issues.push({ path: where, message: messageOf(err) });
    }
  }
}

/** The directory module paths of a config file are relative to. */
export function configDir(file: string): string {
  return dirname(resolve(file));
}
