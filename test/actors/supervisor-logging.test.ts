import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { RunOutcome, SessionContext } from '../../src/core/connector.js';
import {
  advance,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  startTestSession,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Logging: child loggers bound to { supervisor, child, attempt }, transitions at info, failures at
// warn and error with the report's fields, and silence by default.
checkLeaksAfterAll();

const INFO = 30;
const WARN = 40;
const ERROR = 50;

type Line = Record<string, unknown> & { level: number; msg: string };

/** A pino logger whose destination stream writes every line into an array. */
function capturingLogger(level = 'info') {
  const raw: string[] = [];
  const lines: Line[] = [];
  const logger = pino(
    { level },
    {
      write: (line: string) => {
        raw.push(line);
        lines.push(JSON.parse(line) as Line);
      },
    },
  );
  return { logger, raw, lines };
}

/** A run that logs through `ctx.log`, then runs until its attempt is abandoned. */
function loggingRun(ctx: SessionContext): Promise<RunOutcome> {
  ctx.log.info({ step: 'run' }, 'session running');
  return new Promise((resolve) => {
    ctx.signal.addEventListener('abort', () => resolve({ type: 'disconnected' }), { once: true });
  });
}

const retry = { initialIntervalMs: 100, randomizationFactor: 0, maxRetries: 1 };

describe('bindings', () => {
  it('ctx.log of a session is bound to { supervisor, child, attempt }, per attempt', async () => {
    const clock = new SimulatedClock();
    const { logger, lines } = capturingLogger();
    const connector = createScriptedConnector([{ connect: { fail: 'retryable' } }, { run: loggingRun }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      logger,
      children: [{ id: 'db', connector, retry }],
    }).start();
    await flush();
    await advance(clock, 100);
    expect(connector.attempt(1)?.context.log.bindings()).toEqual({
      supervisor: 'root',
      child: 'db',
      attempt: 1,
    });
    const ran = lines.filter((l) => l.msg === 'session running');
    expect(ran).toEqual([
      expect.objectContaining({ level: INFO, supervisor: 'root', child: 'db', attempt: 2, step: 'run' }),
    ]);
    await sup.stop();
  });

  it('a nested supervisor binds its own path once: no key is written twice', async () => {
    const clock = new SimulatedClock();
    const { logger, raw, lines } = capturingLogger();
    const x = createScriptedConnector([{ run: loggingRun }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      logger,
      children: [{ id: 'group', supervisor: { children: [{ id: 'x', connector: x }] } }],
    }).start();
    await flush();
    const ran = lines.find((l) => l.msg === 'session running');
    expect(ran).toMatchObject({ supervisor: 'root/group', child: 'x', attempt: 1 });
    expect(lines.find((l) => l.msg === 'x: initializing → ready')).toMatchObject({
      supervisor: 'root/group',
    });
    for (const line of raw) expect(line.match(/"supervisor":/g)).toHaveLength(1);
    await sup.stop();
  });
});

describe('levels and fields', () => {
  it('transitions at info with child, from, to and attempt', async () => {
    const { logger, lines } = capturingLogger();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      logger,
      children: [{ id: 'db', connector: createScriptedConnector([{}]) }],
    }).start();
    await flush();
    const transitions = lines.filter((l) => 'from' in l);
    expect(transitions).toEqual([
      expect.objectContaining({
        level: INFO,
        msg: 'db: connecting → initializing',
        supervisor: 'root',
        child: 'db',
        from: 'connecting',
        to: 'initializing',
        attempt: 1,
      }),
      expect.objectContaining({ level: INFO, msg: 'db: initializing → ready', to: 'ready', attempt: 1 }),
    ]);
    await sup.stop();
    expect(lines.filter((l) => l.to === 'stopped')).toEqual([
      expect.objectContaining({ level: INFO, from: 'stopping', to: 'stopped' }),
    ]);
  });

  it('a requested reconnect logs its reason with the new attempt', async () => {
    const { logger, lines } = capturingLogger();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      logger,
      children: [{ id: 'db', connector: createScriptedConnector([{}]) }],
    }).start();
    await flush();
    sup.reconnect('db', 'credentials rotated');
    await flush();
    expect(lines.find((l) => l.from === 'ready')).toMatchObject({
      level: INFO,
      to: 'connecting',
      attempt: 2,
      reason: 'credentials rotated',
      msg: 'db: ready → connecting (credentials rotated)',
    });
    await sup.stop();
  });

  it("a failure at warn, and a fatal end at error, each with the report's fields", async () => {
    const clock = new SimulatedClock();
    const { logger, lines } = capturingLogger();
    const connector = createScriptedConnector([
      { connect: { fail: 'retryable', message: 'ECONNREFUSED', code: 'refused' } },
      { connect: { fail: 'fatal', message: 'bad credentials', code: 'auth' } },
    ]);
    const sup = createTestSupervisor({
      id: 'root',
      clock,
      logger,
      children: [{ id: 'db', connector, retry, restart: 'temporary' }],
    }).start();
    await flush();
    const refused = {
      phase: 'connect',
      kind: 'retryable',
      summary: 'ECONNREFUSED',
      code: 'refused',
      attempt: 1,
      at: 0,
    };
    expect(lines.filter((l) => l.level >= WARN)).toEqual([
      expect.objectContaining({
        level: WARN,
        msg: 'db: connecting → reconnecting: ECONNREFUSED',
        supervisor: 'root',
        child: 'db',
        from: 'connecting',
        to: 'reconnecting',
        attempt: 1,
        failure: refused,
      }),
    ]);
    await advance(clock, 100);
    const denied = {
      phase: 'connect',
      kind: 'fatal',
      summary: 'bad credentials',
      code: 'auth',
      attempt: 2,
      at: 100,
    };
    expect(lines.filter((l) => l.level >= WARN).slice(1)).toEqual([
      expect.objectContaining({ level: WARN, to: 'fatal', attempt: 2, failure: denied }),
      expect.objectContaining({
        level: ERROR,
        msg: 'db failed: bad credentials',
        supervisor: 'root',
        child: 'db',
        failure: denied,
      }),
    ]);
    await sup.stop();
  });

  it('a respawn at info, and a supervisor that gives up at error with its report', async () => {
    const { logger, lines } = capturingLogger();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      logger,
      intensity: { maxRestarts: 1 },
      children: [
        {
          id: 'db',
          connector: createScriptedConnector([{ connect: { fail: 'fatal' } }]),
          restart: 'permanent',
        },
      ],
    }).start();
    await flush();
    expect(sup.getSnapshot().state).toBe('failed');
    expect(lines.filter((l) => l.msg === 'db: respawned')).toEqual([
      expect.objectContaining({ level: INFO, supervisor: 'root', child: 'db', restarts: 1 }),
    ]);
    expect(lines.at(-1)).toMatchObject({
      level: ERROR,
      msg: expect.stringContaining('supervisor root failed: '),
      supervisor: 'root',
      report: { kind: 'fatal', code: 'intensity_exceeded' },
    });
  });

  it('a close() that throws is a warning through the attempt logger', async () => {
    const { logger, lines } = capturingLogger();
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      logger,
      children: [{ id: 'db', connector: createScriptedConnector([{ close: 'throw' }]) }],
    }).start();
    await flush();
    await sup.stop();
    expect(lines.find((l) => l.msg === 'session close failed')).toMatchObject({
      level: WARN,
      supervisor: 'root',
      child: 'db',
      attempt: 1,
      err: 'close failed in attempt 1',
    });
  });
});

describe('the default', () => {
  it('is silent: the logger a session gets has every level off, bindings or not', async () => {
    const connector = createScriptedConnector([{}]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      children: [{ id: 'db', connector }],
    }).start();
    await flush();
    const log = connector.attempt(1)?.context.log;
    expect(log?.bindings()).toEqual({ supervisor: 'root', child: 'db', attempt: 1 });
    expect(log?.level).toBe('silent');
    expect(log?.isLevelEnabled('fatal')).toBe(false);
    await sup.stop();

    const bare = createScriptedConnector([{}]);
    const s = startTestSession(bare);
    await flush();
    expect(bare.attempt(1)?.context.log.level).toBe('silent');
    s.actor.stop();
  });

  it('stays at the level of the logger given', async () => {
    const { logger, lines } = capturingLogger('warn');
    const connector = createScriptedConnector([{ run: loggingRun }]);
    const sup = createTestSupervisor({
      id: 'root',
      clock: new SimulatedClock(),
      logger,
      children: [{ id: 'db', connector }],
    }).start();
    await flush();
    expect(connector.attempt(1)?.context.log.level).toBe('warn');
    expect(lines).toEqual([]);
    await sup.stop();
  });
});
