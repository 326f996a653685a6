import { z } from 'zod';
import type { Connector } from '../core/connector.js';
import { WardenError } from '../core/errors.js';
import {
  RETRY_POLICY_FIELDS,
  type RetryPolicy,
  type RetryPolicyInput,
  resolveRetryPolicy,
} from '../core/retry.js';
import { parseOptions } from '../core/validate.js';
import type { Intensity, Strategy } from '../machines/supervisor.js';

/** When an ended child is respawned: always, only after `fatal`, or never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** A child that runs a connector's sessions. */
export interface SessionChildSpec<H = unknown> {
  readonly id: string;
  readonly connector: Connector<H>;
  readonly retry?: RetryPolicyInput;
  /** Default `transient`. */
  readonly restart?: RestartType;
  /** How long stopping this child may take (default 5000 ms). */
  readonly shutdownMs?: number;
}

/** A child that is itself a supervisor with children of its own. */
export interface SupervisorChildSpec {
  readonly id: string;
  readonly supervisor: {
    readonly strategy?: Strategy;
    readonly intensity?: Partial<Intensity>;
    readonly children?: readonly ChildSpec[];
  };
  readonly restart?: RestartType;
  readonly shutdownMs?: number;
}

/** Any child a supervisor accepts. */
export type ChildSpec = SessionChildSpec | SupervisorChildSpec;

/** A validated child spec with defaults filled in. */
export type ResolvedChildSpec =
  | {
      kind: 'session';
      id: string;
      connector: Connector<unknown>;
      retry: RetryPolicy;
      restart: RestartType;
      shutdownMs: number;
    }
  | {
      kind: 'supervisor';
      id: string;
      strategy: Strategy;
      intensity: Intensity;
      children: readonly ChildSpec[];
      restart: RestartType;
      shutdownMs: number;
    };

/** Child ids: a letter or digit, then letters, digits, `_`, `-`, `.` or `:` (at most 128). */
export const CHILD_ID_PATTERN = /^[A-Za-z0-9][\w.:-]{0,127}$/;

const connectorSchema = z.custom<Connector<unknown>>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Connector<unknown>).connect === 'function' &&
    typeof (v as Connector<unknown>).classifyError === 'function',
  { message: 'must be a connector: an object with connect() and classifyError()' },
);

/** Strategy names. */
export const StrategySchema = z.enum(['one-for-one', 'one-for-all', 'rest-for-one']);
/** Intensity with defaults `{ maxRestarts: 3, periodMs: 5000 }`. */
export const IntensitySchema = z
  .object({
    maxRestarts: z.number().int().nonnegative().default(3),
    periodMs: z.number().int().positive().default(5000),
  })
  .strict();

const common = {
  id: z
    .string()
    .regex(
      CHILD_ID_PATTERN,
      'must start with a letter or digit and use only letters, digits, _ - . : (max 128)',
    ),
  restart: z.enum(['permanent', 'transient', 'temporary']).default('transient'),
  shutdownMs: z.number().int().nonnegative().default(5000),
};

const sessionSpecSchema = z
  .object({ ...common, connector: connectorSchema, retry: z.unknown().optional() })
  .strict();
const supervisorSpecSchema = z
  .object({
    ...common,
    supervisor: z
      .object({
        strategy: StrategySchema.default('one-for-one'),
        intensity: IntensitySchema.default({ maxRestarts: 3, periodMs: 5000 }),
        children: z.array(z.unknown()).default([]),
      })
      .strict(),
  })
  .strict();

/** `child spec 'db'` when the spec has a string id (valid or not), else `child spec`. */
function specName(spec: unknown): string {
  const id = typeof spec === 'object' && spec !== null ? (spec as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? `child spec '${id}'` : 'child spec';
}

const SESSION_SPEC_KEYS: ReadonlySet<string> = new Set(['id', 'connector', 'retry', 'restart', 'shutdownMs']);
const RESTART_TYPES: ReadonlySet<unknown> = new Set(['permanent', 'transient', 'temporary']);
const RETRY_KEYS: ReadonlySet<string> = new Set(RETRY_POLICY_FIELDS);

/**
 * Resolved retry policies by their fields' values. Ten thousand children usually share a handful of
 * policies: each is validated once, by the schema, and the resolved (frozen) policy is shared.
 */
const resolvedPolicies = new Map<string, RetryPolicy>();
const MAX_CACHED_POLICIES = 1024;

/** A key that identifies what `resolveRetryPolicy` makes of `retry`, or undefined if unsure. */
function retryKey(retry: unknown): string | undefined {
  if (retry === undefined) return '';
  if (typeof retry !== 'object' || retry === null || Object.getPrototypeOf(retry) !== Object.prototype)
    return undefined;
  let key = '';
  for (const k of Object.keys(retry)) {
    if (!RETRY_KEYS.has(k)) return undefined;
    const v = (retry as Record<string, unknown>)[k];
    if (v !== undefined && v !== null && typeof v !== 'number') return undefined;
    key += `${k}=${String(v)};`;
  }
  return key;
}

function resolveRetryCached(retry: unknown): RetryPolicy {
  const key = retryKey(retry);
  if (key === undefined) return resolveRetryPolicy(retry as RetryPolicyInput | undefined);
  let policy = resolvedPolicies.get(key);
  if (!policy) {
    policy = Object.freeze(resolveRetryPolicy(retry as RetryPolicyInput | undefined));
    if (resolvedPolicies.size < MAX_CACHED_POLICIES) resolvedPolicies.set(key, policy);
  }
  return policy;
}

/**
 * The spec of a session child when it is plainly valid, checked by hand (the schema costs tens of
 * microseconds per child, which at ten thousand children is a large part of starting them);
 * undefined whenever anything is unusual, so that the schema decides and words the error.
 */
function plainSessionSpec(spec: unknown): Omit<z.output<typeof sessionSpecSchema>, 'retry'> | undefined {
  if (typeof spec !== 'object' || spec === null || Object.getPrototypeOf(spec) !== Object.prototype)
    return undefined;
  for (const k of Object.keys(spec)) if (!SESSION_SPEC_KEYS.has(k)) return undefined;
  const { id, connector, restart, shutdownMs } = spec as Record<string, unknown>;
  if (typeof id !== 'string' || !CHILD_ID_PATTERN.test(id)) return undefined;
  if (typeof connector !== 'object' || connector === null) return undefined;
  const c = connector as Connector<unknown>;
  if (typeof c.connect !== 'function' || typeof c.classifyError !== 'function') return undefined;
  if (restart !== undefined && !RESTART_TYPES.has(restart)) return undefined;
  if (shutdownMs !== undefined && !(Number.isSafeInteger(shutdownMs) && (shutdownMs as number) >= 0))
    return undefined;
  return {
    id,
    connector: c,
    restart: (restart ?? 'transient') as RestartType,
    shutdownMs: (shutdownMs ?? 5000) as number,
  };
}

/** Validates a child spec; throws `WARDEN_INVALID_OPTIONS` naming the child, the field and the rule. */
export function resolveChildSpec(spec: unknown): ResolvedChildSpec {
  if (typeof spec === 'object' && spec !== null && 'supervisor' in spec) {
    const s = parseOptions(supervisorSpecSchema, spec, specName(spec));
    return {
      kind: 'supervisor',
      id: s.id,
      strategy: s.supervisor.strategy,
      intensity: s.supervisor.intensity,
      children: s.supervisor.children as ChildSpec[],
      restart: s.restart,
      shutdownMs: s.shutdownMs,
    };
  }
  const s = plainSessionSpec(spec) ?? parseOptions(sessionSpecSchema, spec, specName(spec));
  let retry: RetryPolicy;
  try {
    retry = resolveRetryCached((spec as { retry?: unknown }).retry);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new WardenError('WARDEN_INVALID_OPTIONS', `Invalid child spec '${s.id}': retry: ${message}`, {
      cause: err,
    });
  }
  return {
    kind: 'session',
    id: s.id,
    connector: s.connector,
    retry,
    restart: s.restart,
    shutdownMs: s.shutdownMs,
  };
}
