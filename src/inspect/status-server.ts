import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Supervisor } from '../actors/supervisor.js';
import type { SupervisorSnapshot } from '../actors/supervisor-types.js';
import { WardenError } from '../core/errors.js';
import type { SystemHealth } from '../core/health.js';
import { parseOptions } from '../core/validate.js';
import type { Metrics } from './metrics.js';

/** Options of {@link createStatusServer}. */
export interface StatusServerOptions {
  readonly health: SystemHealth;
  readonly metrics?: Metrics;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
}

const OptionsSchema = z.object({
  health: z.custom<SystemHealth>((v) => typeof v === 'object' && v !== null && 'report' in v, {
    message: 'must be a SystemHealth',
  }),
  metrics: z.unknown().optional(),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(0),
});

/** A running status server. */
export interface StatusServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /live` (the process is alive), `GET /health` (200 when ready, 503 otherwise, with
 * `{ status, uptimeMs, endpoints, sessions, servers, holds }` and every failure report: of sessions
 * and of transport servers that report to the health) and `GET /metrics` (Prometheus text).
 * Binds 127.0.0.1 unless told otherwise.
 */
export async function createStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const opts = parseOptions(OptionsSchema, options, 'status server options');
  const server = createServer((req, res) => {
    void handleStatusRequest(req, res, options.health, options.metrics).then((handled) => {
      if (!handled)
        send(
          res,
          404,
          'application/json',
          JSON.stringify({ code: 'NOT_FOUND', message: 'try /live, /health or /metrics' }),
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new WardenError('WARDEN_SERVER_START_FAILED', `The status server could not listen: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${opts.host}:${port}`, close: () => closeServer(server) };
}

/**
 * Answers one status request; returns false when the path is not a status path, so a dashboard can
 * serve these routes beside its own.
 */
export async function handleStatusRequest(
  req: IncomingMessage,
  res: ServerResponse,
  health: SystemHealth,
  metrics: Metrics | undefined,
): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (path === '/live' || path === '/health' || path === '/metrics') {
      send(res, 405, 'application/json', JSON.stringify({ code: 'METHOD_NOT_ALLOWED', message: 'use GET' }));
      return true;
    }
    return false;
  }
  if (path === '/live') {
    send(res, 200, 'application/json', JSON.stringify({ status: 'alive' }));
    return true;
  }
  if (path === '/health') {
    const report = health.report();
    send(res, report.status === 'ready' ? 200 : 503, 'application/json', JSON.stringify(report));
    return true;
  }
  if (path === '/metrics') {
    if (!metrics) send(res, 404, 'text/plain', 'no metrics are collected by this process\n');
    else send(res, 200, metrics.contentType, await metrics.text());
    return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Follows a supervisor's whole tree (nested supervisors too) into `health` as sessions named
 * `supervisor/child` (`root/group/child` for a nested one), with their failure reports. Returns a
 * function that stops following.
 */
export function watchSupervisorHealth(sup: Supervisor, health: SystemHealth, required = true): () => void {
  const walk = (snap: SupervisorSnapshot, path: string): void => {
    for (const c of snap.children) {
      health.setSession(`${path}/${c.id}`, c.status.state, c.status.lastFailure, required);
      if (c.supervisor) walk(c.supervisor, `${path}/${c.id}`);
    }
  };
  walk(sup.getSnapshot(), sup.id);
  // Nested children's events bubble up as `group/child`; their status lives in the nested
  // supervisor, so their last failure is the one the event brings, or the one already known.
  return sup.on('transition', (e) => {
    const name = `${sup.id}/${e.child}`;
    const direct = sup.status(e.child);
    const lastFailure = direct?.lastFailure ?? e.failure ?? health.session(name)?.lastFailure;
    health.setSession(name, e.to, lastFailure, required);
  });
}
