/**
 * The HTTP status of every error sent before the first chunk: the mapping itself (every code, in an
 * explicit table, checked against docs/protocol/http2.md too), and the raw `:status` a bare
 * `node:http2` client sees for each code a handler throws and for the server's own 503s
 * (draining endpoint, overloaded session, stopping server).
 */
import { readFileSync } from 'node:fs';
import { type ClientHttp2Session, connect, type IncomingHttpHeaders } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { type ErrorCode, ErrorCodes, WardenError } from '../../../src/core/errors.js';
import { codeOfHttpStatus, httpStatusOf } from '../../../src/transports/http2/codec.js';
import { COMP, type Fixture, NS, rawRequest, startFixture, waitFor } from './helpers.js';

/** Written out, not derived: a change of the mapping must change this table too. */
const STATUS: Record<ErrorCode, number> = {
  WARDEN_INVALID_OPTIONS: 400,
  WARDEN_INVALID_NAME: 400,
  WARDEN_CHILD_EXISTS: 500,
  WARDEN_CHILD_NOT_FOUND: 500,
  WARDEN_SUPERVISOR_NOT_RUNNING: 500,
  WARDEN_TIMEOUT: 500,
  WARDEN_INVALID_SESSION: 500,
  WARDEN_ENDPOINT_EXISTS: 500,
  WARDEN_ENDPOINT_NOT_FOUND: 404,
  WARDEN_INSTANCE_NOT_FOUND: 404,
  WARDEN_ENDPOINT_DRAINING: 503,
  WARDEN_SERVER_NOT_RUNNING: 503,
  WARDEN_SERVER_START_FAILED: 500,
  WARDEN_CANCELLED: 499,
  WARDEN_DEADLINE_EXCEEDED: 504,
  WARDEN_INVALID_REQUEST: 400,
  WARDEN_MESSAGE_TOO_LARGE: 413,
  WARDEN_OVERLOADED: 503,
  WARDEN_HANDLER_ERROR: 500,
  WARDEN_PROTOCOL_ERROR: 400,
  WARDEN_UNAUTHORIZED: 401,
  WARDEN_CONNECTION_CLOSED: 500,
  WARDEN_CONNECTION_FAILED: 500,
  WARDEN_NO_RESPONDERS: 500,
  WARDEN_CLIENT_CLOSED: 500,
  WARDEN_NO_INSTANCES: 500,
};

const CODES = Object.keys(ErrorCodes) as ErrorCode[];

/** The status table of docs/protocol/http2.md: `| 503 | `WARDEN_…`, `WARDEN_…` |` rows. */
function documentedStatuses(): Array<[ErrorCode, number]> {
  const doc = readFileSync(new URL('../../../docs/protocol/http2.md', import.meta.url), 'utf8');
  const rows: Array<[ErrorCode, number]> = [];
  for (const line of doc.split('\n')) {
    const row = /^\| (\d{3}) \| (.*) \|$/.exec(line);
    if (!row) continue;
    for (const [, code] of (row[2] as string).matchAll(/`(WARDEN_[A-Z_]+)`/g)) {
      rows.push([code as ErrorCode, Number(row[1])]);
    }
  }
  return rows;
}

describe('http2 status mapping (httpStatusOf)', () => {
  it('the table names every error code', () => {
    expect(Object.keys(STATUS).sort()).toEqual([...CODES].sort());
  });

  it.each(CODES)('%s', (code) => {
    expect(httpStatusOf(code)).toBe(STATUS[code]);
  });

  it('agrees with the status table of docs/protocol/http2.md', () => {
    const rows = documentedStatuses();
    expect(rows.length).toBeGreaterThanOrEqual(13);
    for (const [code, status] of rows) {
      // 405 and 415 are statuses the server picks for a request it refuses, not a code's default.
      if (status === 405 || status === 415) continue;
      expect(httpStatusOf(code), code).toBe(status);
    }
  });

  it('maps a status without a readable body back to a code, as documented', () => {
    const back: Array<[number, ErrorCode]> = [
      [400, 'WARDEN_INVALID_REQUEST'],
      [415, 'WARDEN_INVALID_REQUEST'],
      [401, 'WARDEN_UNAUTHORIZED'],
      [403, 'WARDEN_UNAUTHORIZED'],
      [404, 'WARDEN_ENDPOINT_NOT_FOUND'],
      [413, 'WARDEN_MESSAGE_TOO_LARGE'],
      [499, 'WARDEN_CANCELLED'],
      [500, 'WARDEN_HANDLER_ERROR'],
      [503, 'WARDEN_OVERLOADED'],
      [504, 'WARDEN_DEADLINE_EXCEEDED'],
      [405, 'WARDEN_PROTOCOL_ERROR'],
      [502, 'WARDEN_PROTOCOL_ERROR'],
      [200, 'WARDEN_PROTOCOL_ERROR'],
    ];
    for (const [status, code] of back) expect(codeOfHttpStatus(status), String(status)).toBe(code);
  });
});

/** What one raw stream saw. */
interface RawStream {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on an open raw session (so several can share one connection). */
function rawStream(session: ClientHttp2Session, endpoint: string, body = 'null'): Promise<RawStream> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': `/v1/${NS}/${COMP}/${endpoint}`,
      'content-type': 'application/json',
    });
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    stream.on('response', (h) => {
      status = h[':status'] ?? 0;
      headers = h;
    });
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('error', () => {});
    stream.on('close', () => resolve({ status, headers, body: Buffer.concat(parts).toString('utf8') }));
    stream.end(body);
  });
}

async function openSession(address: string): Promise<ClientHttp2Session> {
  const session = connect(address);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** The error response of a raw stream: status, `warden-error-code` and the JSON body agree. */
function expectError(res: RawStream, status: number, code: ErrorCode): void {
  expect(res.status, `${code}: ${res.body}`).toBe(status);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['warden-error-code']).toBe(code);
  expect(JSON.parse(res.body)).toMatchObject({ code });
}

describe('http2 raw :status on the wire', () => {
  const open: Array<{ close(): unknown }> = [];
  const fixture = async (...args: Parameters<typeof startFixture>): Promise<Fixture> => {
    const f = await startFixture(...args);
    open.push(f);
    return f;
  };
  const session = async (f: Fixture): Promise<ClientHttp2Session> => {
    const s = await openSession(f.server.address());
    open.unshift({ close: () => s.destroy() });
    return s;
  };

  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it.each(CODES)('a handler that throws %s answers its mapped status', async (code) => {
    const f = await fixture();
    await f.register('throws', async (body) => {
      throw new WardenError(body as ErrorCode, `thrown with ${String(body)}`);
    });
    const res = await rawRequest(
      f.server.address(),
      `/v1/${NS}/${COMP}/throws`,
      { 'content-type': 'application/json' },
      JSON.stringify(code),
    );
    expect(res.status, code).toBe(STATUS[code]);
    expect(res.headers['warden-error-code']).toBe(code);
    expect(JSON.parse(res.body.toString())).toEqual({ code, message: `thrown with ${code}` });
    if (STATUS[code] === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('a draining endpoint answers 503 WARDEN_ENDPOINT_DRAINING', async () => {
    const f = await fixture();
    const release: Array<() => void> = [];
    await f.register('drain', () => new Promise((resolve) => release.push(() => resolve('done'))));
    const s = await session(f);
    const inFlight = rawStream(s, 'drain');
    await waitFor(() => release.length === 1);
    const unregistering = f.server.unregisterEndpoint('drain', { drainMs: 5000 });
    await waitFor(() => f.server.endpoints()[0]?.draining === true);
    expectError(await rawStream(s, 'drain'), 503, 'WARDEN_ENDPOINT_DRAINING');
    release[0]?.();
    expect((await inFlight).status).toBe(200);
    await unregistering;
  });

  it('a session over maxInFlight answers 503 WARDEN_OVERLOADED; another session is served', async () => {
    const f = await fixture({ maxInFlight: 1 });
    const release: Array<() => void> = [];
    await f.register('held', () => new Promise((resolve) => release.push(() => resolve('done'))));
    await f.register('echo', async (b) => b);
    const s = await session(f);
    const inFlight = rawStream(s, 'held');
    await waitFor(() => release.length === 1);
    expectError(await rawStream(s, 'echo', '"one too many"'), 503, 'WARDEN_OVERLOADED');
    const other = await rawRequest(f.server.address(), `/v1/${NS}/${COMP}/echo`, {}, '"other"');
    expect(other.status).toBe(200);
    release[0]?.();
    expect((await inFlight).status).toBe(200);
    expect((await rawStream(s, 'echo', '"room again"')).status).toBe(200);
  });

  it('a stopping server answers a new stream on an open session with 503 WARDEN_SERVER_NOT_RUNNING', async () => {
    const f = await fixture();
    const release: Array<() => void> = [];
    await f.register('held', () => new Promise((resolve) => release.push(() => resolve('done'))));
    await f.register('echo', async (b) => b);
    const s = await session(f);
    const inFlight = rawStream(s, 'held');
    await waitFor(() => release.length === 1);
    const stopping = f.server.stop({ drainMs: 5000 });
    await waitFor(() => f.server.state === 'draining');
    expectError(await rawStream(s, 'echo', '1'), 503, 'WARDEN_SERVER_NOT_RUNNING');
    release[0]?.();
    expect((await inFlight).status).toBe(200);
    await stopping;
  });
});
