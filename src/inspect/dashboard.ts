import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Supervisor } from '../actors/supervisor.js';
import { isWardenError, messageOf, WardenError } from '../core/errors.js';
import { SystemHealth } from '../core/health.js';
import { parseOptions } from '../core/validate.js';
import { type DashboardServer, DashboardState } from './dashboard-state.js';
import { WARDEN_MACHINES } from './machines.js';
import { toMermaid } from './mermaid.js';
import type { Metrics } from './metrics.js';
import { FAVICON_SVG, renderPage } from './page/html.js';
import { SseClient } from './sse.js';
import { handleStatusRequest, watchSupervisorHealth } from './status-server.js';

export type {
  DashboardDiff,
  DashboardServer,
  DashboardSnapshot,
  ServerView,
  TimelineEntry,
} from './dashboard-state.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** Supervisors to show, each with its whole tree. */
  readonly supervisors?: readonly Supervisor[];
  /** One supervisor to show (added to `supervisors`). */
  readonly supervisor?: Supervisor;
  /**
   * Transport servers to show with their endpoints. A NATS server's own supervisor (its connection
   * session) is shown in the tree as well.
   */
  readonly servers?: readonly DashboardServer[];
  /**
   * Health served at `/health` and shown in the header. Default: a health of its own that follows
   * every supervisor shown.
   */
  readonly health?: SystemHealth;
  /** Served at `/metrics` when given. */
  readonly metrics?: Metrics;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0: any free port (read it from `url`). */
  readonly port?: number;
  /** Shown in the page's title bar (default `warden`). */
  readonly title?: string;
  /**
   * Allow the page to reconnect and restart children (`POST /api/children/…`). Default: true when
   * bound to a loopback address, false otherwise.
   */
  readonly actions?: boolean;
  /** At most this many batches of changes per second to each page (default 10). */
  readonly updatesPerSecond?: number;
  /** Transitions kept for the timeline (default 500). */
  readonly timelineSize?: number;
  /** Where request errors are logged (default: nowhere). */
  readonly logger?: Logger;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  /** Ends every event stream, stops following the system and closes the HTTP server. */
  close(): Promise<void>;
}

const OptionsSchema = z.object({
  supervisors: z.array(z.instanceof(Supervisor, { message: 'must be a Supervisor' })).optional(),
  supervisor: z.instanceof(Supervisor, { message: 'must be a Supervisor' }).optional(),
  servers: z
    .array(
      z.custom<DashboardServer>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          typeof (v as DashboardServer).endpoints === 'function' &&
          typeof (v as DashboardServer).isHealthy === 'function',
        'must be a warden transport server',
      ),
    )
    .optional(),
  health: z.instanceof(SystemHealth, { message: 'must be a SystemHealth' }).optional(),
  metrics: z.unknown().optional(),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(0),
  title: z.string().min(1).max(200).default('warden'),
  actions: z.boolean().optional(),
  updatesPerSecond: z.number().positive().max(100).default(10),
  timelineSize: z.number().int().min(10).max(100_000).default(500),
  logger: z.unknown().optional(),
});

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const HEARTBEAT_MS = 15_000;
/** How often endpoint counters (in-flight, requests) are compared while a page is connected. */
const SERVER_POLL_MS = 1000;

/**
 * Starts the live dashboard: one local page (no external assets) showing the supervision trees,
 * each actor's machine diagram with its current state, a timeline of transitions with failure
 * reports, and the transport servers with their endpoints, in-flight counts and health. The page
 * gets a snapshot, then batches of changes over server-sent events (at most `updatesPerSecond`).
 * It also serves `/health`, `/live` and `/metrics` like the status server.
 *
 * Routes: `GET /`, `GET /api/snapshot`, `GET /events`, `GET /api/machines` (graphs),
 * `GET /api/machines/{name}.mmd|.json`, `POST /api/children/{supervisor}/{child}/reconnect|restart`.
 *
 * @example
 * ```ts
 * const dashboard = await createDashboard({ supervisors: [sup], servers: [tcp, nats], health, metrics });
 * console.log(`dashboard: ${dashboard.url}`);
 * // ...
 * await dashboard.close();
 * ```
 */
export async function createDashboard(options: DashboardOptions): Promise<Dashboard> {
  const opts = parseOptions(OptionsSchema, options, 'dashboard options');
  const log = options.logger;
  const supervisors: Supervisor[] = [...(options.supervisors ?? [])];
  if (options.supervisor && !supervisors.includes(options.supervisor)) supervisors.push(options.supervisor);
  const servers = [...(options.servers ?? [])];
  for (const s of servers) {
    const nested = (s as { supervisor?: unknown }).supervisor;
    if (nested instanceof Supervisor && !supervisors.includes(nested)) supervisors.push(nested);
  }
  const loopback = LOOPBACK_HOSTS.has(opts.host);
  const actions = opts.actions ?? loopback;

  const unwatch: Array<() => void> = [];
  let health = options.health;
  if (!health) {
    health = new SystemHealth();
    for (const sup of supervisors) unwatch.push(watchSupervisorHealth(sup, health));
  }
  const metrics = options.metrics;

  const clients = new Set<SseClient>();
  const intervalMs = 1000 / opts.updatesPerSecond;
  let flushTimer: NodeJS.Timeout | undefined;
  let lastFlush = 0;
  let closed = false;

  const state = new DashboardState(
    opts.title,
    supervisors,
    servers,
    health,
    actions,
    () => schedule(),
    opts.timelineSize,
  );

  const sendSnapshot = (client: SseClient): void => client.send('snapshot', JSON.stringify(state.snapshot()));
  const broadcast = (event: string, data: string): void => {
    for (const c of clients) c.send(event, data);
  };
  const flush = (): void => {
    flushTimer = undefined;
    lastFlush = Date.now();
    if (clients.size === 0) return;
    let diff: ReturnType<DashboardState['diff']>;
    try {
      diff = state.diff();
    } catch (err) {
      log?.warn({ err: messageOf(err) }, 'dashboard: could not build an update');
      return;
    }
    if (diff === 'resync') {
      state.startTracking();
      broadcast('snapshot', JSON.stringify(state.snapshot()));
    } else if (diff) broadcast('diff', JSON.stringify(diff));
  };
  // Return early when nobody listens: a system without an open page pays nothing per transition.
  function schedule(): void {
    if (clients.size === 0 || flushTimer || closed) return;
    flushTimer = setTimeout(flush, Math.max(0, lastFlush + intervalMs - Date.now()));
  }
  let poll: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const startTimers = (): void => {
    poll ??= setInterval(schedule, SERVER_POLL_MS);
    heartbeat ??= setInterval(() => {
      for (const c of clients) c.ping();
    }, HEARTBEAT_MS);
  };
  const stopTimers = (): void => {
    clearInterval(poll);
    clearInterval(heartbeat);
    clearTimeout(flushTimer);
    poll = heartbeat = flushTimer = undefined;
  };

  const openEvents = (req: IncomingMessage, res: ServerResponse): void => {
    const client = new SseClient(res, sendSnapshot);
    if (clients.size === 0) state.startTracking();
    clients.add(client);
    client.open(1000);
    sendSnapshot(client);
    startTimers();
    const drop = (): void => {
      clients.delete(client);
      client.close();
      if (clients.size === 0) {
        state.tracking = false;
        stopTimers();
      }
    };
    req.on('close', drop);
    res.on('error', drop);
  };

  const page = renderPage(opts.title);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (loopback && !hostAllowed(req.headers.host)) {
      // A page on another origin that rebinds its DNS name to 127.0.0.1 must not read the system.
      return json(res, 403, {
        code: 'FORBIDDEN_HOST',
        message: 'the dashboard answers only to its loopback host',
      });
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/' || path === '/index.html')
        return send(res, 200, 'text/html; charset=utf-8', page, PAGE_HEADERS);
      if (path === '/favicon.svg') return send(res, 200, 'image/svg+xml', FAVICON_SVG);
      if (path === '/favicon.ico') return send(res, 204, 'text/plain', '');
      if (path === '/api/snapshot') return json(res, 200, state.snapshot());
      if (path === '/events') return openEvents(req, res);
      if (path === '/api/machines') return json(res, 200, state.snapshot().machines);
      const m = /^\/api\/machines\/([a-z-]+)\.(mmd|json)$/.exec(path);
      const machine = m ? WARDEN_MACHINES.find((x) => x.name === m[1]) : undefined;
      if (m && machine) {
        return m[2] === 'mmd'
          ? send(res, 200, 'text/plain; charset=utf-8', toMermaid(machine.machine))
          : json(res, 200, machine.machine.toJSON());
      }
    }
    if (path.startsWith('/api/children/')) return childAction(req, res, path);
    if (await handleStatusRequest(req, res, health, metrics)) return;
    json(res, 404, { code: 'NOT_FOUND', message: `no route ${path}; the dashboard is at /` });
  };

  const childAction = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (req.method !== 'POST') return json(res, 405, { code: 'METHOD_NOT_ALLOWED', message: 'use POST' });
    if (!actions)
      return json(res, 403, {
        code: 'ACTIONS_DISABLED',
        message: 'actions are disabled on this dashboard (it is not bound to loopback); pass actions: true',
      });
    // A custom header forces a CORS preflight, which this server never grants: other sites cannot POST.
    if (req.headers['x-warden-action'] !== '1' || !originAllowed(req.headers.origin, req.headers.host))
      return json(res, 403, {
        code: 'FORBIDDEN',
        message: 'send x-warden-action: 1 from the dashboard page',
      });
    const parts = path.slice('/api/children/'.length).split('/').map(decodeURIComponent);
    const action = parts.pop();
    const supId = parts.shift();
    const child = parts.join('/');
    const sup = supId === undefined ? undefined : state.supervisor(supId);
    if (!sup || child === '')
      return json(res, 404, { code: 'NOT_FOUND', message: `no supervisor '${supId}'` });
    if (child.includes('/'))
      return json(res, 400, {
        code: 'NOT_DIRECT_CHILD',
        message: `'${child}' is nested: reconnect or restart its supervisor '${child.split('/')[0]}' instead`,
      });
    try {
      if (action === 'reconnect') {
        const ok = sup.reconnect(child, 'requested from the dashboard');
        return json(res, ok ? 200 : 409, { ok, status: sup.status(child) });
      }
      if (action === 'restart') {
        await sup.restart(child);
        return json(res, 200, { ok: true, status: sup.status(child) });
      }
      return json(res, 404, {
        code: 'NOT_FOUND',
        message: `unknown action '${action}': reconnect or restart`,
      });
    } catch (err) {
      const code = isWardenError(err) ? err.code : 'INTERNAL';
      return json(res, code === 'WARDEN_CHILD_NOT_FOUND' ? 404 : 409, { code, message: messageOf(err) });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.error({ err: messageOf(err), url: req.url }, 'dashboard request failed');
      if (!res.headersSent) json(res, 500, { code: 'INTERNAL', message: 'the dashboard failed to answer' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      state.close();
      for (const stop of unwatch) stop();
      reject(
        new WardenError('WARDEN_SERVER_START_FAILED', `The dashboard could not listen: ${err.message}`, {
          cause: err,
        }),
      );
    });
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = opts.host.includes(':') && !opts.host.startsWith('[') ? `[${opts.host}]` : opts.host;

  return {
    url: `http://${hostInUrl}:${port}/`,
    port,
    async close() {
      if (closed) return;
      closed = true;
      stopTimers();
      for (const c of clients) c.close();
      clients.clear();
      state.close();
      for (const stop of unwatch.splice(0)) stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

const PAGE_HEADERS = {
  // Everything the page needs is in it or comes from this server: nothing may load from elsewhere.
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function hostAllowed(host: string | undefined): boolean {
  if (host === undefined) return true; // HTTP/1.0 clients and raw tools
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return LOOPBACK_HOSTS.has(name ?? '');
}

function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser, or a same-origin request that omitted it
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}
