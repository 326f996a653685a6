/**
 * Calls racing the end of an endpoint: `unregisterEndpoint`, `stop()` and a reconnect of the
 * server's NATS connection. Every call must end with a result or a clear error code long before
 * its deadline; a request NATS has already delivered to the server must never be dropped silently.
 *
 * The race is made deterministic, not left to chance: right after the burst of calls is written to
 * the client's socket, this process's event loop is held (`Atomics.wait`). nats-server, another
 * process, routes the requests to the warden server's connection meanwhile, so when the endpoint
 * goes they are sitting unread in that connection's socket buffer: delivered by NATS, not yet seen
 * by the server. A server that merely unsubscribes loses every one of them (the caller waits for
 * its deadline); one that drains its subscriptions answers each.
 *
 * No timing is asserted. Calls have a 30 s deadline; the test waits at most {@link SETTLE_MS} for
 * every outcome and fails naming how many calls are still silent. The tests also check that the
 * race really happened (some of the burst was refused), so they cannot pass without exercising it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CallTarget } from '../../../src/core/request-plane.js';
import { NATS_SESSION_ID, type NatsServer } from '../../../src/transports/nats/index.js';
import { type Fixture, outcome, setup } from './fixture.js';

/** Deadline of every call: far beyond any honest answer, so a dropped request shows as silence. */
const DEADLINE_MS = 30_000;
/** How long the test waits for all outcomes before it fails (well below the deadline). */
const SETTLE_MS = 10_000;
/** Calls held in the handler when the endpoint goes (in-flight work that must drain). */
const INFLIGHT = 16;
/** Calls published just before the endpoint goes, half of them direct (instance) calls. */
const BURST = 200;
/** Calls made after the endpoint began to go. */
const AFTER = 20;
/** How long the event loop is held so that NATS routes the burst to the server's socket. */
const HOLD_MS = 400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
/**
 * Lets pending microtasks run (nats.js writes what was published in one), without a turn of the
 * event loop: no socket is read meanwhile.
 */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 16; i++) await Promise.resolve();
}

/** Blocks this thread: no socket of this process is read meanwhile, other processes run on. */
function holdEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Counts = Record<string, number>;

function countOf(outcomes: readonly (string | undefined)[]): Counts {
  const counts: Counts = {};
  for (const o of outcomes) {
    const key = o ?? 'still waiting';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Waits for every call's outcome, at most `ms`; fails naming the calls that are still silent. */
async function settle(label: string, calls: readonly Promise<string>[], ms: number): Promise<string[]> {
  const seen: (string | undefined)[] = calls.map(() => undefined);
  calls.forEach((c, i) => {
    void c.then((o) => {
      seen[i] = o;
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  const all = await Promise.race([Promise.all(calls), expired]);
  clearTimeout(timer);
  if (all === undefined) {
    const silent = seen.filter((o) => o === undefined).length;
    throw new Error(
      `${label}: ${silent} of ${calls.length} calls got no answer within ${ms} ms (deadline ${DEADLINE_MS} ms): ` +
        `requests were dropped without a reply. Outcomes: ${JSON.stringify(countOf(seen))}`,
    );
  }
  return all;
}

/** Waits until the server has `n` requests in flight, at most 5 s. */
async function inflightReaches(server: NatsServer, n: number): Promise<void> {
  for (let i = 0; i < 500 && server.inflight < n; i++) await sleep(10);
  if (server.inflight < n) throw new Error(`only ${server.inflight} of ${n} calls reached the handler`);
}

interface Race {
  inflight: Counts;
  burst: Counts;
  after: Counts;
  handlerCalls: number;
}

/**
 * Registers an endpoint, puts {@link INFLIGHT} calls into its handler (held there by a gate),
 * publishes {@link BURST} more, holds the event loop so NATS routes them to the server, then runs
 * `end` (which makes the endpoint go) and makes {@link AFTER} more calls. The gate opens right
 * after `end` began (`gate: 'open'`: the held calls can finish while the endpoint drains) or only
 * once every call has an outcome (`'closed'`: the held calls end only if the server ends them).
 * Returns every outcome, counted.
 */
async function race(
  f: Fixture,
  endpoint: string,
  end: (server: NatsServer) => Promise<unknown>,
  gate: 'open' | 'closed',
): Promise<Race> {
  let open!: () => void;
  const held = new Promise<void>((resolve) => {
    open = resolve;
  });
  let handlerCalls = 0;
  const direct = await f.register(endpoint, async (body) => {
    handlerCalls++;
    if ((body as { hold?: boolean }).hold) await held;
    return body;
  });
  const { instanceId: _id, ...any } = direct;
  const call = (t: CallTarget, i: number, hold = false) =>
    outcome(f.client.request(t, { i, hold }, { timeoutMs: DEADLINE_MS }));

  const inflight = Array.from({ length: INFLIGHT }, (_, i) => call(any, i, true));
  await inflightReaches(f.server, INFLIGHT);

  const burst = Array.from({ length: BURST }, (_, i) => call(i % 2 === 0 ? any : direct, i));
  await microtasks(); // the client has written the burst to its socket; nothing was read yet
  holdEventLoop(HOLD_MS); // nats-server routes it to the warden server's socket meanwhile
  const ending = end(f.server);
  await nextTurn();
  if (gate === 'open') open();
  const after = Array.from({ length: AFTER }, (_, i) => call(i % 2 === 0 ? any : direct, i));

  try {
    const [i, b, a] = await Promise.all([
      settle(`${endpoint} (in flight)`, inflight, SETTLE_MS),
      settle(`${endpoint} (burst)`, burst, SETTLE_MS),
      settle(`${endpoint} (after)`, after, SETTLE_MS),
    ]);
    return { inflight: countOf(i), burst: countOf(b), after: countOf(a), handlerCalls };
  } finally {
    open();
    await ending;
  }
}

/**
 * The burst arrived once the endpoint was going (the event loop was held until then), so it must
 * have been refused with `WARDEN_ENDPOINT_DRAINING`, not served and not dropped.
 */
function expectRefused(r: Race): void {
  expectOnly(r.burst, ['ok', 'WARDEN_ENDPOINT_DRAINING', 'WARDEN_NO_RESPONDERS'], BURST, 'burst');
  expect(
    r.burst.WARDEN_ENDPOINT_DRAINING ?? 0,
    `no request that arrived once the endpoint was going was refused (the race was not exercised, or new work reached the handler): ${JSON.stringify(r.burst)}`,
  ).toBeGreaterThan(0);
  expectOnly(r.after, ['WARDEN_ENDPOINT_DRAINING', 'WARDEN_NO_RESPONDERS'], AFTER, 'after');
  // New work never reached the handler once the endpoint was going (only what it had read before).
  expect(r.handlerCalls).toBe(INFLIGHT + (r.burst.ok ?? 0));
}

/** Every code in `counts` is one of `allowed`, and the counts add up to `total`. */
function expectOnly(counts: Counts, allowed: readonly string[], total: number, what: string): void {
  const unexpected = Object.keys(counts).filter((k) => !allowed.includes(k));
  expect(unexpected, `${what}: unexpected outcomes in ${JSON.stringify(counts)}`).toEqual([]);
  expect(
    Object.values(counts).reduce((s, n) => s + n, 0),
    `${what}: ${JSON.stringify(counts)}`,
  ).toBe(total);
}

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

describe('NATS: calls racing the end of an endpoint get an answer, never silence', {
  timeout: 60_000,
}, () => {
  it('unregisterEndpoint: in-flight calls finish, requests NATS already delivered get WARDEN_ENDPOINT_DRAINING', async () => {
    f = await setup();
    const r = await race(
      f,
      'unreg',
      (s) => s.unregisterEndpoint('test/svc/unreg', { drainMs: DEADLINE_MS }),
      'open',
    );
    // In-flight work drains: each call gets its result.
    expect(r.inflight).toEqual({ ok: INFLIGHT });
    expectRefused(r);
    expect(f.server.endpoints()).toEqual([]);
    // And the path is served again once registered again.
    const again = await f.register('unreg', async () => 'again');
    expect(await f.client.request(again, null, { timeoutMs: DEADLINE_MS })).toBe('again');
  });

  it('stop(): in-flight calls finish, requests NATS already delivered get WARDEN_ENDPOINT_DRAINING', async () => {
    f = await setup();
    const r = await race(f, 'stop', (s) => s.stop({ drainMs: DEADLINE_MS }), 'open');
    expect(r.inflight).toEqual({ ok: INFLIGHT });
    expectRefused(r);
    expect(f.server.state).toBe('stopped');
  });

  it('a reconnect of the live connection: in-flight and delivered requests end with WARDEN_CONNECTION_CLOSED', async () => {
    f = await setup();
    const r = await race(
      f,
      'reconnect',
      async (s) => {
        expect(s.supervisor.reconnect(NATS_SESSION_ID, 'test: replace the connection')).toBe(true);
      },
      'closed',
    );
    // The connection is replaced, not lost: the server can still tell each caller why it stopped.
    expect(r.inflight).toEqual({ WARDEN_CONNECTION_CLOSED: INFLIGHT });
    expectOnly(r.burst, ['ok', 'WARDEN_CONNECTION_CLOSED', 'WARDEN_NO_RESPONDERS'], BURST, 'burst');
    // The burst was delivered on the old connection: answered while it drains, never dropped.
    expect(r.burst.WARDEN_CONNECTION_CLOSED ?? 0, JSON.stringify(r.burst)).toBeGreaterThan(0);
    expectOnly(r.after, ['ok', 'WARDEN_CONNECTION_CLOSED', 'WARDEN_NO_RESPONDERS'], AFTER, 'after');
    // Served again on the new connection.
    await f.server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
    const t = await f.register('after-reconnect', async () => 'served');
    expect(await f.client.request(t, null, { timeoutMs: DEADLINE_MS })).toBe('served');
  });
});
