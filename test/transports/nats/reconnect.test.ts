import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SupervisorEventMap } from '../../../src/actors/supervisor.js';
import type { CallTarget } from '../../../src/core/request-plane.js';
import { createNatsClient, NATS_SESSION_ID, type NatsClient } from '../../../src/transports/nats/index.js';
import { type Fixture, setup } from './fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TIMEOUT_MS = 3000;

let f: Fixture;
let client: NatsClient;
beforeAll(async () => {
  f = await setup();
  // The client reconnects with nats.js's own policy; make it quick for the test.
  client = createNatsClient({
    servers: f.nats.url,
    connectOptions: { reconnectTimeWait: 50, maxReconnectAttempts: -1, reconnectJitter: 0 },
  });
});
afterAll(async () => {
  await client?.close();
  await f?.close();
});

interface Outcome {
  code: string;
  ms: number;
}

async function timed(p: Promise<unknown>): Promise<Outcome> {
  const started = Date.now();
  try {
    await p;
    return { code: 'ok', ms: Date.now() - started };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err), ms: Date.now() - started };
  }
}

/** Runs `workers` loops of calls until `stop()`; every outcome is recorded. */
function load(target: CallTarget, workers: number) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; running && i < 10_000; i++) {
      outcomes.push(await timed(client.request(target, { w, i }, { timeoutMs: TIMEOUT_MS })));
      if (outcomes[outcomes.length - 1]?.code !== 'ok') await sleep(10);
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('NATS server reconnect', () => {
  it('survives a nats-server restart under load: clear errors, no hang, endpoints served again', async () => {
    let calls = 0;
    const work = await f.register('work', async (body) => {
      calls++;
      await sleep(Math.random() * 20);
      return body;
    });
    const abortReasons: unknown[] = [];
    const slow = await f.register('slow', async (_b, ctx) => {
      ctx.signal.addEventListener('abort', () =>
        abortReasons.push((ctx.signal.reason as { code?: string }).code),
      );
      await sleep(1000);
      return ctx.signal.aborted ? 'aborted' : 'done';
    });
    const transitions: SupervisorEventMap['transition'][] = [];
    f.server.supervisor.on('transition', (t) => transitions.push(t));

    const traffic = load(work, 8);
    await sleep(200);
    const stranded = Array.from({ length: 5 }, () =>
      timed(client.request(slow, null, { timeoutMs: TIMEOUT_MS })),
    );
    await sleep(50);
    const okBefore = traffic.outcomes.filter((o) => o.code === 'ok').length;
    expect(okBefore).toBeGreaterThan(10);

    await f.nats.stop();
    // The connection is a session: it leaves ready and retries per the retry policy.
    await f.server.supervisor.waitFor(NATS_SESSION_ID, 'reconnecting', { timeoutMs: 2000 });
    expect(f.server.isHealthy()).toBe(false);
    const status = f.server.supervisor.status(NATS_SESSION_ID);
    expect(status?.lastFailure).toMatchObject({ phase: expect.stringMatching(/run|connect/) });
    expect(f.health.report().sessions[`nats:${f.server.serverId}`]).toMatchObject({ ready: false });
    // Calls in flight when NATS went away end with a clear error, long before their deadline.
    const strandedOutcomes = await Promise.all(stranded);
    for (const o of strandedOutcomes) {
      expect(o.code).toBe('WARDEN_CONNECTION_CLOSED');
      expect(o.ms).toBeLessThan(TIMEOUT_MS - 1000);
    }
    // The handlers were stopped, and their signal says why: the server's connection closed.
    expect(abortReasons).toEqual(Array(5).fill('WARDEN_CONNECTION_CLOSED'));
    await sleep(300); // a few failed attempts while down
    const attemptsWhileDown = transitions.filter((t) => t.to === 'connecting').length;
    expect(attemptsWhileDown).toBeGreaterThanOrEqual(2);

    await f.nats.restart();
    await f.server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
    expect(f.server.isHealthy()).toBe(true);
    expect(f.health.report().sessions[`nats:${f.server.serverId}`]).toMatchObject({ ready: true });

    // Served again with no re-registration by the user, once the client has reconnected too.
    let served = false;
    for (let i = 0; i < 100 && !served; i++) {
      served = (await timed(client.request(work, 'again', { timeoutMs: 1000 }))).code === 'ok';
      if (!served) await sleep(20);
    }
    expect(served).toBe(true);
    await sleep(100);
    await traffic.stop();

    // Every call ended, each within its deadline, each either answered or with a clear error.
    const codes = new Set(traffic.outcomes.map((o) => o.code));
    for (const code of codes) {
      expect(['ok', 'WARDEN_CONNECTION_CLOSED', 'WARDEN_NO_RESPONDERS']).toContain(code);
    }
    expect(Math.max(...traffic.outcomes.map((o) => o.ms))).toBeLessThan(TIMEOUT_MS);
    const okAfter = traffic.outcomes.filter((o) => o.code === 'ok').length;
    expect(okAfter).toBeGreaterThan(okBefore);
    expect(codes.has('WARDEN_CONNECTION_CLOSED')).toBe(true);

    // Each endpoint is subscribed once: a direct call (no queue group) runs its handler exactly once.
    const before = calls;
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.request(work, i, { timeoutMs: 2000 })));
    await sleep(50);
    expect(calls - before).toBe(20);
    expect(f.server.inflight).toBe(0);
  });

  it('keeps each endpoint subscribed exactly once across several reconnects', async () => {
    let calls = 0;
    const t = await f.register('once', async () => {
      calls++;
      return calls;
    });
    for (let round = 0; round < 3; round++) {
      await f.nats.stop();
      await f.server.supervisor.waitFor(NATS_SESSION_ID, 'reconnecting', { timeoutMs: 2000 });
      // Registered while NATS is down: subscribed by the next connection's init.
      await f.register(`while-down-${round}`, async () => `down-${round}`);
      await f.nats.restart();
      await f.server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
    }
    const probe = await connect({ servers: f.nats.url });
    try {
      const info = (
        await probe.request(`$SRV.INFO.warden.${f.server.serverId}`, '', { timeout: 2000 })
      ).json<{ endpoints: Array<{ subject: string }> }>();
      const subjects = info.endpoints.map((e) => e.subject);
      expect(new Set(subjects).size).toBe(subjects.length);
      for (let round = 0; round < 3; round++)
        expect(subjects).toContain(`warden.test.svc.while-down-${round}`);
      // Direct subject through a plain NATS request: one answer, from one handler run.
      const before = calls;
      const replies: unknown[] = [];
      const inbox = `check.${Date.now()}`;
      const sub = probe.subscribe(inbox, {
        callback: (_e, m) => {
          replies.push(m.data.length);
        },
      });
      probe.publish(`warden.test.svc.once.${t.instanceId}`, '', { reply: inbox });
      await probe.flush();
      await sleep(200);
      sub.unsubscribe();
      expect(calls - before).toBe(1);
      expect(replies).toHaveLength(1);
    } finally {
      await probe.close();
    }
    const answer = await timedRequest(`while-down-2`);
    expect(answer).toBe('down-2');
  });
});

async function timedRequest(endpoint: string): Promise<unknown> {
  for (let i = 0; i < 100; i++) {
    try {
      return await client.request(
        { address: f.server.address(), namespace: 'test', component: 'svc', endpoint },
        null,
        { timeoutMs: 1000 },
      );
    } catch (err) {
      if ((err as { code?: string }).code !== 'WARDEN_CONNECTION_CLOSED') throw err;
      await sleep(20);
    }
  }
  throw new Error('the client did not reconnect');
}
