import { z } from 'zod';
import { WardenError } from '../core/errors.js';
import { INSTANCE_ID_PATTERN, NAME_PATTERN, type TransportName } from '../core/request-plane.js';
import { describeIssues } from '../core/validate.js';

/** One served instance of an endpoint, as discovery records it. */
export interface InstanceRecord {
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  /** 16 lowercase hex digits. */
  readonly instanceId: string;
  readonly transport: TransportName;
  /** What the transport's client dials: the server's `address()`. */
  readonly address: string;
  /** Free-form labels (zone, version, ...). */
  readonly meta: Readonly<Record<string, string>>;
}

/** Which instances a `list` or `watch` is about: one endpoint, or all of a component or namespace. */
export interface DiscoveryPath {
  readonly namespace: string;
  readonly component?: string;
  readonly endpoint?: string;
}

/**
 * What a watcher sees: an instance came (`added`; for an instance already seen, its record changed
 * and this one replaces it) or went (`removed`); `synced` marks the moment the watcher's set is
 * complete: after the initial `added` events, and again after each resync (following a reconnect),
 * whose differences come as `added`/`removed` just before it.
 */
export type DiscoveryEvent =
  | { readonly type: 'added'; readonly instance: InstanceRecord }
  | { readonly type: 'removed'; readonly instance: InstanceRecord }
  | { readonly type: 'synced' };

/** Options of {@link Discovery.watch}. */
export interface WatchOptions {
  /** Aborting it ends the watch: the iteration finishes normally. */
  readonly signal?: AbortSignal;
}

/**
 * Where instances are found. `MemoryDiscovery` serves one process; `NatsKvDiscovery` serves many
 * machines through JetStream KV.
 */
export interface Discovery {
  /** Publishes an instance (and keeps it alive, where the backend needs a heartbeat). */
  register(instance: InstanceRecord): Promise<void>;
  /**
   * Withdraws at once the records of `instanceId`: all of them, or only those under `path` (one
   * server process usually serves several endpoints under one instance id).
   */
  unregister(instanceId: string, path?: DiscoveryPath): Promise<void>;
  /** The live instances under `path`. */
  list(path: DiscoveryPath): Promise<InstanceRecord[]>;
  /**
   * Added/removed events under `path`, starting with an `added` for every current instance and a
   * `synced`. Ends when `opts.signal` aborts, the caller stops iterating, or the discovery closes.
   */
  watch(path: DiscoveryPath, opts?: WatchOptions): AsyncIterable<DiscoveryEvent>;
  /** Withdraws what this discovery registered where the backend keeps it, and ends every watch. */
  close(): Promise<void>;
}

const name = z.string().regex(NAME_PATTERN, 'must match ^[a-z0-9][a-z0-9_-]*$');

/** The zod schema of an {@link InstanceRecord}. */
export const InstanceRecordSchema = z
  .object({
    namespace: name,
    component: name,
    endpoint: name,
    instanceId: z.string().regex(INSTANCE_ID_PATTERN, 'must be 16 lowercase hex digits'),
    transport: z.enum(['tcp', 'http2', 'nats']),
    address: z
      .string()
      .regex(
        /^(tcp|http|https|nats|tls):\/\/[^\s]+$/,
        'must be a transport address such as tcp://127.0.0.1:4000',
      ),
    meta: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** Validates an instance record; throws `WARDEN_INVALID_OPTIONS` naming each bad field. */
export function checkInstance(value: unknown): InstanceRecord {
  const parsed = InstanceRecordSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = describeIssues(parsed.error);
  throw new WardenError(
    'WARDEN_INVALID_OPTIONS',
    `Invalid instance record: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    {
      details: { issues },
    },
  );
}

/** True when `instance` lies under `path`. */
export function matchesPath(instance: InstanceRecord, path: DiscoveryPath): boolean {
  return (
    instance.namespace === path.namespace &&
    (path.component === undefined || instance.component === path.component) &&
    (path.endpoint === undefined || instance.endpoint === path.endpoint)
  );
}

/** The zod schema of a {@link DiscoveryPath}: an `endpoint` needs its `component`. */
export const DiscoveryPathSchema = z
  .object({ namespace: name, component: name.optional(), endpoint: name.optional() })
  .strict()
  .refine((p) => p.endpoint === undefined || p.component !== undefined, {
    message: 'an endpoint needs its component',
    path: ['component'],
  });

/** Validates a discovery path; throws `WARDEN_INVALID_OPTIONS` naming each bad field. */
export function checkPath(value: unknown): DiscoveryPath {
  const parsed = DiscoveryPathSchema.safeParse(value);
  if (parsed.success) {
    const p = parsed.data;
    // Rebuilt without undefined members (exactOptionalPropertyTypes).
    return {
      namespace: p.namespace,
      ...(p.component === undefined ? {} : { component: p.component }),
      ...(p.endpoint === undefined ? {} : { endpoint: p.endpoint }),
    };
  }
  const issues = describeIssues(parsed.error);
  throw new WardenError(
    'WARDEN_INVALID_OPTIONS',
    `Invalid discovery path: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}

/** The identity of a record: `{namespace}.{component}.{endpoint}.{instanceId}` (also its NATS KV key). */
export function instanceKey(instance: InstanceRecord): string {
  return `${instance.namespace}.${instance.component}.${instance.endpoint}.${instance.instanceId}`;
}

/** True when two records say the same thing (same identity, transport, address and meta). */
export function sameInstance(a: InstanceRecord, b: InstanceRecord): boolean {
  if (
    a.namespace !== b.namespace ||
    a.component !== b.component ||
    a.endpoint !== b.endpoint ||
    a.instanceId !== b.instanceId ||
    a.transport !== b.transport ||
    a.address !== b.address
  )
    return false;
  const ka = Object.keys(a.meta);
  if (ka.length !== Object.keys(b.meta).length) return false;
  return ka.every((k) => a.meta[k] === b.meta[k]);
}

/** The zod schema of a `discovery` option: any object implementing {@link Discovery}. */
export const DiscoveryOptionSchema = z.custom<Discovery>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Discovery).register === 'function' &&
    typeof (v as Discovery).unregister === 'function',
  'expected a Discovery (MemoryDiscovery, NatsKvDiscovery, ...)',
);

/** The zod schema of the `meta` labels published with instance records. */
export const InstanceMetaSchema = z.record(z.string(), z.string());
