/**
 * Options of the NATS transport server, validated with zod at the edge.
 */
import type { ConnectionOptions } from '@nats-io/transport-node';
import type { InspectionEvent, Observer } from 'xstate';
import { z } from 'zod';
import type { TransportServerOptions } from '../../actors/transport-server.js';
import { type SystemHealth, SystemHealthOptionSchema } from '../../core/health.js';
import { INSTANCE_ID_PATTERN } from '../../core/request-plane.js';
import type { RetryPolicyInput } from '../../core/retry.js';
import { parseOptions } from '../../core/validate.js';
import { DiscoveryOptionSchema, InstanceMetaSchema } from '../../discovery/discovery.js';
import { ACK_EVERY, PREFIX_PATTERN } from './codec.js';
import { MICRO_NAME_PATTERN } from './micro.js';

/** The id of the supervisor child that is the server's NATS connection. */
export const NATS_SESSION_ID = 'connection';

/** Options of {@link createNatsServer}. */
export interface NatsServerOptions extends TransportServerOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` (default). The first one is the server's `address()`. */
  readonly servers?: string | readonly string[];
  /** Subject prefix (default `warden`): `{prefix}.{namespace}.{component}.{endpoint}`. */
  readonly prefix?: string;
  /**
   * nats.js connection options passed through unchanged: `user`/`pass`, `token`, `authenticator`
   * (nkey, JWT, creds), `tls`, `name`, `timeout`, `pingInterval` … `servers` and `reconnect` are ignored:
   * the server reconnects through its session and retry policy.
   */
  readonly connectOptions?: Partial<ConnectionOptions>;
  /** Retry policy of the connection session (default: retry forever, backoff 500 ms doubling up to 5 s). */
  readonly retry?: RetryPolicyInput;
  /**
   * Where the server reports its own state from the moment it is created (as every transport
   * server does); its connection session is reported there as well once it has endpoints.
   */
  readonly health?: SystemHealth;
  /** The server's name under `servers` in {@link health} (default `nats`, or `nats-2`, … when taken). */
  readonly healthName?: string;
  /** Requests in flight on this server beyond which new ones get `WARDEN_OVERLOADED` (default 4096). */
  readonly maxInFlight?: number;
  /** Largest response chunk, in bytes after encoding (default 16 MiB); chunks over NATS `max_payload` are split. */
  readonly maxMessageBytes?: number;
  /** Response units (chunks) a caller may leave unacked before the handler is paused (default 256, at least 64). */
  readonly streamWindow?: number;
  /** This server's id: 16 lowercase hex digits (default: random). Used in `$SRV` and control subjects. */
  readonly serverId?: string;
  /** How the server presents itself to the NATS micro protocol (`$SRV.*`). */
  readonly service?: {
    /** Default: the prefix with dots replaced by `-`. */
    readonly name?: string;
    /** A semantic version (default `0.1.0`). */
    readonly version?: string;
    readonly description?: string;
    readonly metadata?: Readonly<Record<string, string>>;
  };
  /** An XState inspector for the server's supervisor (the dashboard attaches here). */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const opaque = z.custom<unknown>(() => true);

const OptionsSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    prefix: z
      .string()
      .regex(PREFIX_PATTERN, 'must be dot-separated tokens of letters, digits, _ and -')
      .optional(),
    connectOptions: z.record(z.string(), z.unknown()).optional(),
    retry: z.record(z.string(), z.unknown()).optional(),
    logger: opaque.optional(),
    observer: opaque.optional(),
    drainMs: z.number().int().nonnegative().optional(),
    discovery: DiscoveryOptionSchema.optional(),
    meta: InstanceMetaSchema.optional(),
    health: SystemHealthOptionSchema.optional(),
    healthName: z.string().min(1).optional(),
    maxInFlight: z.number().int().positive().optional(),
    maxMessageBytes: z.number().int().positive().optional(),
    streamWindow: z
      .number()
      .int()
      .min(2 * ACK_EVERY)
      .optional(),
    serverId: z.string().regex(INSTANCE_ID_PATTERN, 'must be 16 lowercase hex digits').optional(),
    service: z
      .object({
        name: z.string().regex(MICRO_NAME_PATTERN, 'must match ^[A-Za-z0-9_-]+$').optional(),
        version: z.string().regex(SEMVER, 'must be a semantic version like 1.0.0').optional(),
        description: z.string().optional(),
        metadata: z.record(z.string(), z.string()).optional(),
      })
      .strict()
      .optional(),
    inspect: opaque.optional(),
  })
  .strict();

/** `nats://host:port` of a configured server URL (`host`, `host:port` or a `nats://` URL). */
export function natsAddress(server: string): string {
  const url = new URL(server.includes('://') ? server : `nats://${server}`);
  return `nats://${url.hostname}:${url.port || '4222'}`;
}

/** Validates server options; throws `WARDEN_INVALID_OPTIONS` naming each field and rule. */
export function parseNatsServerOptions(options: unknown): void {
  parseOptions(OptionsSchema, options, 'NATS server options');
}
