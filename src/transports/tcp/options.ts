import type { Logger } from 'pino';
import { z } from 'zod';
import type { RequestObserver } from '../../actors/endpoint-registry.js';
import type { TransportServerOptions } from '../../actors/transport-server.js';
import { SystemHealthOptionSchema } from '../../core/health.js';
import { DiscoveryOptionSchema, InstanceMetaSchema } from '../../discovery/discovery.js';
import { DEFAULT_MAX_FRAME_BYTES, LENGTH_LIMIT, MIN_MAX_FRAME_BYTES } from './codec.js';

const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);

const loggerSchema = z.custom<Logger>(
  (v) => typeof v === 'object' && v !== null && typeof (v as { child?: unknown }).child === 'function',
  'expected a pino logger',
);

const maxMessageBytes = z
  .number()
  .int()
  .min(MIN_MAX_FRAME_BYTES)
  .max(LENGTH_LIMIT)
  .default(DEFAULT_MAX_FRAME_BYTES);
const keepaliveMs = z.number().int().min(0).default(30_000);
const token = z.string().min(1).max(65_535).optional();

/** TLS material of a TCP server. */
export interface TcpServerTlsOptions {
  /** Private key (PEM). */
  readonly key: string | Buffer;
  /** Certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** CAs that client certificates must chain to (PEM); used with `requestCert`. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Ask for a client certificate and refuse connections without a valid one (default false). */
  readonly requestCert?: boolean;
}

/** Options of {@link createTcpServer}; every field is optional. */
export interface TcpServerOptions extends TransportServerOptions {
  /** Interface to bind (default `127.0.0.1`: only local callers, as every warden listener). */
  readonly host?: string;
  /** Port (default 0: any free port; read it back from `address()`). */
  readonly port?: number;
  /** Largest frame accepted or sent, in bytes (default 16 MiB; 1024 … 2^31-1). */
  readonly maxMessageBytes?: number;
  /** Requests in flight on one connection before new ones get `WARDEN_OVERLOADED` (default 1024). */
  readonly maxInFlightPerConnection?: number;
  /** Ping a silent connection this often and drop it after a second silent interval (ms; 0: off; default 30000). */
  readonly keepaliveMs?: number;
  /** A connection must send its HELLO within this time (ms, default 10000). */
  readonly handshakeTimeoutMs?: number;
  /** Shared secret every connection's HELLO must carry; a wrong or missing one closes the connection. */
  readonly token?: string;
  /** Serve TLS instead of plain TCP (the address then starts with `tls://`). */
  readonly tls?: TcpServerTlsOptions;
  /** The server's name under `servers` in {@link health} (default `tcp`, or `tcp-2`, … when taken). */
  readonly healthName?: string;
}

/** Validates {@link TcpServerOptions} and fills in the defaults. */
export const TcpServerOptionsSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(0),
    maxMessageBytes,
    maxInFlightPerConnection: z.number().int().min(1).default(1024),
    keepaliveMs,
    handshakeTimeoutMs: z.number().int().min(1).default(10_000),
    token,
    tls: z
      .object({
        key: pem,
        cert: pem,
        ca: z.union([pem, z.array(pem)]).optional(),
        requestCert: z.boolean().optional(),
      })
      .strict()
      .optional(),
    logger: loggerSchema.optional(),
    observer: z
      .custom<RequestObserver>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          typeof (v as RequestObserver).requestStarted === 'function' &&
          typeof (v as RequestObserver).requestEnded === 'function',
        'expected an object with requestStarted and requestEnded',
      )
      .optional(),
    drainMs: z.number().int().min(0).optional(),
    discovery: DiscoveryOptionSchema.optional(),
    meta: InstanceMetaSchema.optional(),
    health: SystemHealthOptionSchema.optional(),
    healthName: z.string().min(1).optional(),
  })
  .strict();

/** {@link TcpServerOptions} after validation, defaults filled in. */
export type TcpServerConfig = z.output<typeof TcpServerOptionsSchema>;

/** TLS options of a TCP client. */
export interface TcpClientTlsOptions {
  /** CAs to trust for the server's certificate (PEM); default: Node's bundled roots. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Client certificate (PEM), for servers that set `requestCert`. */
  readonly cert?: string | Buffer;
  /** Private key of the client certificate (PEM). */
  readonly key?: string | Buffer;
  /** Name to check the server's certificate against (default: the host of the address). */
  readonly servername?: string;
  /** Refuse servers whose certificate does not verify (default true). */
  readonly rejectUnauthorized?: boolean;
}

/** Options of {@link createTcpClient}; every field is optional. */
export interface TcpClientOptions {
  /** Largest frame sent or accepted, in bytes (default 16 MiB). Larger request bodies fail locally. */
  readonly maxMessageBytes?: number;
  /** Shared secret sent in HELLO (must match the server's `token`). */
  readonly token?: string;
  /** TLS settings for `tls://` addresses. */
  readonly tls?: TcpClientTlsOptions;
  /** Give up dialling after this long (ms, default 10000): calls end with `WARDEN_CONNECTION_FAILED`. */
  readonly connectTimeoutMs?: number;
  /** Ping a silent connection this often and drop it after a second silent interval (ms; 0: off; default 30000). */
  readonly keepaliveMs?: number;
  /**
   * Response bytes the server may send on one call ahead of the reader (default 256 KiB). A reader
   * that stops reading stops its own call's server-side handler after this much, and no other call.
   */
  readonly streamWindowBytes?: number;
  /** A pino logger (default: silent). */
  readonly logger?: Logger;
}

/** Validates {@link TcpClientOptions} and fills in the defaults. */
export const TcpClientOptionsSchema = z
  .object({
    maxMessageBytes,
    token,
    tls: z
      .object({
        ca: z.union([pem, z.array(pem)]).optional(),
        cert: pem.optional(),
        key: pem.optional(),
        servername: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().optional(),
      })
      .strict()
      .optional(),
    connectTimeoutMs: z.number().int().min(1).default(10_000),
    keepaliveMs,
    streamWindowBytes: z
      .number()
      .int()
      .min(1024)
      .max(LENGTH_LIMIT)
      .default(256 * 1024),
    logger: loggerSchema.optional(),
  })
  .strict();

/** {@link TcpClientOptions} after validation, defaults filled in. */
export type TcpClientConfig = z.output<typeof TcpClientOptionsSchema>;
