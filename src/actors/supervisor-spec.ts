import { z } from 'zod';
import type { Connector } from '../core/connector.js';
import { WardenError } from '../core/errors.js';
import { type RetryPolicy, type RetryPolicyInput, resolveRetryPolicy } from '../core/retry.js';
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
  const s = parseOptions(sessionSpecSchema, spec, specName(spec));
  let retry: RetryPolicy;
  try {
    retry = resolveRetryPolicy(s.retry as RetryPolicyInput | undefined);
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
