import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { ErrorCode } from './errors.js';
import type { SystemHealth } from './health.js';

/** The three transports of the request plane. */
export type TransportName = 'tcp' | 'http2' | 'nats';

/** Names of namespaces, components and endpoints: `^[a-z0-9][a-z0-9_-]*$`. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

/** Instance ids: 64-bit values written as 16 lowercase hex digits. */
export const INSTANCE_ID_PATTERN = /^[0-9a-f]{16}$/;

/** Everything a handler knows about the request it serves. */
export interface RequestContext {
  /** Aborted when the caller cancels, the deadline passes, the endpoint drains past `drainMs`, or the server stops. */
  readonly signal: AbortSignal;
  readonly requestId: string;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly instanceId: string;
  /** Request headers, lower-case names (includes W3C `traceparent` when the caller sent one). */
  readonly headers: Readonly<Record<string, string>>;
  /** Epoch ms after which the caller no longer waits; undefined when it set no deadline. */
  readonly deadline: number | undefined;
  /** A pino child logger bound to the endpoint's path and the request id (made on first use). */
  readonly log: Logger;
}

/**
 * Serves one endpoint. Return a `Promise` for a single result, or an `AsyncIterable` to stream
 * chunks. Throw a `WardenError` to send its code; any other error is sent as `WARDEN_HANDLER_ERROR`
 * with its message (never its stack). A `Uint8Array` body or chunk travels as raw bytes, anything
 * else as JSON.
 */
export type EndpointHandler = (
  request: unknown,
  ctx: RequestContext,
) => AsyncIterable<unknown> | Promise<unknown>;

/** What `registerEndpoint` takes. */
export interface EndpointRegistration {
  readonly endpoint: string;
  readonly handler: EndpointHandler;
  /** 16 lowercase hex digits; see {@link newInstanceId}. */
  readonly instanceId: string;
  readonly namespace: string;
  readonly component: string;
  /** Where the endpoint's readiness is tracked (`ready` once it can serve, `notready` while draining). */
  readonly health: SystemHealth;
  /** Validates each request body; a failing body gets `WARDEN_INVALID_REQUEST` with zod's issues. */
  readonly schema?: ZodType;
}

/**
 * A server that multiplexes many endpoints on one port or connection. Every transport implements it
 * and keeps its promises: duplicate registration is refused, `isHealthy()` reflects reality.
 */
export interface RequestPlaneServer {
  /** Rejects with `WARDEN_ENDPOINT_EXISTS` on a duplicate path, `WARDEN_SERVER_NOT_RUNNING` if not started. */
  registerEndpoint(reg: EndpointRegistration): Promise<void>;
  /** Stops new work, lets in-flight calls finish for `drainMs` (default 5000), then aborts the rest. */
  unregisterEndpoint(endpoint: string, opts?: { drainMs?: number }): Promise<void>;
  /** `tcp://127.0.0.1:40123`, `http://127.0.0.1:8443`, `nats://127.0.0.1:4222` (what clients dial). */
  address(): string;
  readonly transportName: TransportName;
  /** True only while the server can really accept work. */
  isHealthy(): boolean;
  start(): Promise<void>;
  stop(opts?: { drainMs?: number }): Promise<void>;
}

/** Where a call goes: the server's `address()` and the endpoint's path, optionally one instance. */
export interface CallTarget {
  readonly address: string;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly instanceId?: string;
}

/** Options of a call. */
export interface CallOptions {
  /** Aborting it cancels the call: the handler's signal aborts and the call ends with `WARDEN_CANCELLED`. */
  readonly signal?: AbortSignal;
  /** Deadline relative to now; past it the call ends with `WARDEN_DEADLINE_EXCEEDED`. */
  readonly timeoutMs?: number;
  /** Extra headers (lower-case names), e.g. `traceparent`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A request-plane client for one transport. */
export interface RequestPlaneClient {
  /** Streams the response chunks; throws a `WardenError` with the server's code when it fails. */
  call(target: CallTarget, body: unknown, opts?: CallOptions): AsyncIterable<unknown>;
  /** One result: the single chunk of a unary response (an array of chunks if it streamed several). */
  request(target: CallTarget, body: unknown, opts?: CallOptions): Promise<unknown>;
  close(): Promise<void>;
}

/** A request as a transport hands it to the endpoint registry, after decoding its framing. */
export interface InboundRequest {
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  /**
   * `namespace/component/endpoint` (see {@link endpointPath}), when the transport knows it already
   * (e.g. from a cache of request paths): the registry then does not build it per request.
   */
  readonly path?: string | undefined;
  /** Empty or undefined: any instance. */
  readonly instanceId?: string | undefined;
  readonly requestId: string;
  /** Epoch ms, or undefined for none. */
  readonly deadline?: number | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** The decoded body: a JSON value, or a `Uint8Array` for raw bytes. */
  readonly body: unknown;
}

/** An error as it travels on the wire: a stable code and a message, nothing else. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * Where the registry writes a response. A transport implements it per request.
 * `chunk` may return a promise while the transport is back-pressured: the registry awaits it before
 * pulling the next chunk from the handler's iterator, so a slow reader pauses the handler.
 * Exactly one of `end` or `error` is called, once, after zero or more chunks.
 * `last` is true when the registry will call `end()` right after this chunk (a unary handler's
 * result), so a transport can send the chunk and the end together without waiting to find out.
 */
export interface ResponseSink {
  chunk(value: unknown, last?: boolean): void | Promise<void>;
  end(): void;
  error(err: WireError): void;
}

/** A request being served; `cancel` is what a transport calls when the caller goes away. */
export interface InflightRequest {
  /** Aborts the handler and ends the response with `WARDEN_CANCELLED`. */
  cancel(): void;
  /** Aborts the handler and ends the response with another error (e.g. the connection closed). */
  fail(err: WireError): void;
  /** Settles when the response has ended, either way. */
  readonly done: Promise<void>;
}

/** Joins a path as the registry keys it. */
export function endpointPath(namespace: string, component: string, endpoint: string): string {
  return `${namespace}/${component}/${endpoint}`;
}

/** A fresh 64-bit instance id as 16 lowercase hex digits. */
export function newInstanceId(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
