import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock, type SnapshotFrom, transition } from 'xstate';
import { getShortestPaths, type StatePath } from 'xstate/graph';
import type { RunOutcome } from '../../src/core/connector.js';
import type { FailureKind, FailureReport } from '../../src/core/failure.js';
import { resolveRetryPolicy } from '../../src/core/retry.js';
import { type SessionEvent, type SessionState, sessionMachine } from '../../src/machines/session.js';
import {
  type AttemptScript,
  createScriptedConnector,
  flush,
  startTestSession,
} from '../../src/testing/index.js';
import { checkLeaksAfterAll } from '../helpers/leaks.js';

// Model-based: the shortest path to every (state, budget) combination of the session machine,
// found by graph traversal, replayed against the real machine on a SimulatedClock, twice:
// once with the attempt events sent directly, once with a scripted connector producing them.
checkLeaksAfterAll();

type Snapshot = SnapshotFrom<typeof sessionMachine>;
type Path = StatePath<Snapshot, SessionEvent>;

const ALL_STATES: SessionState[] = [
  'connecting',
  'initializing',
  'ready',
  'reconnecting',
  'stopping',
  'fatal',
  'stopped',
];
const RETRY_AFTER = 'xstate.after.retryDelay.session.reconnecting';
/** Delayed events are not part of `SessionEvent`; compare their type as a plain string. */
const isType = (event: { type: string }, type: string): boolean => event.type === type;
const SHUTDOWN_AFTER = 'xstate.after.shutdown.session.stopping';
const retryInput = { maxRetries: 1, initialIntervalMs: 100, randomizationFactor: 0 } as const;
const shutdownMs = 300;

const report = (kind: FailureKind): FailureReport => ({
  phase: 'run',
  kind,
  summary: `a ${kind} failure`,
  attempt: 1,
  at: 0,
});
const outcomes: RunOutcome[] = [
  { type: 'disconnected' },
  { type: 'reconnectRequested', reason: 'model' },
  { type: 'fatal', report: report('fatal') },
];
const events: SessionEvent[] = [
  { type: 'ATTEMPT.CONNECTED' },
  { type: 'ATTEMPT.INITIALIZED', handle: 'handle' },
  ...(['retryable', 'fatal', 'stop'] as const).map((k) => ({
    type: 'ATTEMPT.FAILED' as const,
    report: report(k),
  })),
  ...outcomes.map((outcome) => ({ type: 'ATTEMPT.RUN_ENDED' as const, outcome })),
  { type: 'ATTEMPT.RECONNECT', reason: 'model' },
  { type: 'ATTEMPT.CLOSED' },
  { type: 'RECONNECT', reason: 'model' },
  { type: 'STOP' },
  // Delayed transitions are plain events to the traversal; the replays drive the clock instead.
  { type: RETRY_AFTER } as unknown as SessionEvent,
  { type: SHUTDOWN_AFTER } as unknown as SessionEvent,
];

// Traversal must have no side effects: the attempt actor is inert.
const inert = sessionMachine.provide({ actors: { runAttempt: fromCallback(() => {}) } });
const connectorForTraversal = createScriptedConnector([]);
const serialize = (s: Snapshot): string =>
  JSON.stringify([
    s.value,
    s.context.exhausted,
    s.context.reconnectReason !== undefined,
    s.context.budget.failures,
  ]);
const paths: Path[] = getShortestPaths(inert, {
  // A frozen clock: with Date.now, time spent traversing could reset the retry budget (resetAfterMs).
  input: {
    connector: connectorForTraversal,
    retry: resolveRetryPolicy(retryInput),
    shutdownMs,
    now: () => 0,
  },
  events,
  serializeState: serialize,
});

const describePath = (p: Path): string =>
  `${p.steps
    .slice(1)
    .map((s) => {
      const e = s.event as SessionEvent & { report?: FailureReport; outcome?: RunOutcome };
      return e.type + (e.report ? `(${e.report.kind})` : '') + (e.outcome ? `(${e.outcome.type})` : '');
    })
    .join(' → ')} ⇒ ${String(p.state.value)}`;

// Every transition: each shortest path, extended by every event that changes its end state.
const edgePaths = new Map<string, Path>();
for (const p of paths) {
  edgePaths.set(describePath(p), p);
  for (const event of events) {
    const [next] = transition(inert, p.state, event);
    if (serialize(next) === serialize(p.state)) continue;
    const extended: Path = { state: next, steps: [...p.steps, { event, state: next }], weight: p.weight + 1 };
    edgePaths.set(describePath(extended), extended);
  }
}

/** Distinct consecutive values, as `recordStates` reports them. */
const distinct = <T>(xs: T[]): T[] => xs.filter((x, i) => i === 0 || xs[i - 1] !== x);

describe('graph traversal', () => {
  it('reaches every state of the session machine', () => {
    expect(Object.keys(sessionMachine.root.states).sort()).toEqual([...ALL_STATES].sort());
    const reached = new Set(paths.map((p) => p.state.value));
    expect([...reached].sort()).toEqual([...ALL_STATES].sort());
  });

  it('the extended paths take every transition the machine declares', () => {
    const taken = new Set<string>();
    for (const p of edgePaths.values()) {
      p.steps.slice(1).forEach((step, i) => {
        taken.add(`${String(p.steps[i]?.state.value)}:${step.event.type}`);
      });
    }
    const declared = Object.entries(sessionMachine.root.states).flatMap(([name, node]) =>
      [...node.transitions.keys()].map((type) => `${name}:${type}`),
    );
    expect(declared.length).toBeGreaterThan(15);
    expect(declared.filter((d) => !taken.has(d))).toEqual([]);
  });

  it('reaches fatal through budget exhaustion', () => {
    expect(paths.some((p) => p.state.value === 'fatal' && p.state.context.exhausted)).toBe(true);
  });
});

describe.each([...edgePaths])('path %s', (_name, path) => {
  it('replays with the attempt events sent directly', async () => {
    const clock = new SimulatedClock();
    const actor = createActor(inert, {
      clock,
      input: {
        connector: connectorForTraversal,
        retry: resolveRetryPolicy(retryInput),
        shutdownMs,
        now: () => clock.now(),
      },
    }).start();
    try {
      for (const step of path.steps.slice(1)) {
        if (isType(step.event, RETRY_AFTER)) clock.increment(actor.getSnapshot().context.delayMs);
        else if (isType(step.event, SHUTDOWN_AFTER)) clock.increment(shutdownMs);
        else actor.send(step.event);
        expect(actor.getSnapshot().value).toBe(step.state.value);
        expect(actor.getSnapshot().context.exhausted).toBe(step.state.context.exhausted);
      }
      expect(actor.getSnapshot().value).toBe(path.state.value);
      expect(actor.getSnapshot().status).toBe(path.state.status);
    } finally {
      actor.stop();
    }
  });

  it('replays with a scripted connector producing the attempt events', async () => {
    // Each attempt event of the path becomes a step of that attempt's script (phases not named
    // by the path hang); the other events (RECONNECT, STOP, delays) are what the test does.
    // Only serialized fields of a path's snapshots are reliable, so the attempt is counted here:
    // every step into `connecting` starts a new attempt.
    type MutableScript = { -readonly [K in keyof AttemptScript]: AttemptScript[K] };
    const hangs = (): MutableScript => ({ connect: 'hang', init: 'hang', run: 'hang', close: 'resolve' });
    const scripts = new Map<number, MutableScript>();
    const scriptOf = (attempt: number): MutableScript => {
      const existing = scripts.get(attempt);
      if (existing) return existing;
      const fresh = hangs();
      scripts.set(attempt, fresh);
      return fresh;
    };
    const steps = path.steps;
    const actions: number[] = [];
    // A shutdown timeout needs a session whose close() hangs: not there if its attempt never connected.
    const connected = new Set<number>();
    const noSessionToWaitFor = new Set<number>();
    let attempt = 1;
    for (let i = 1; i < steps.length; i++) {
      const e = steps[i]?.event as SessionEvent;
      const prev = steps[i - 1]?.state.value;
      const script = scriptOf(attempt);
      const phase = prev === 'connecting' ? 'connect' : prev === 'initializing' ? 'init' : 'run';
      if (e.type === 'ATTEMPT.CONNECTED') {
        script.connect = 'resolve';
        connected.add(attempt);
      } else if (e.type === 'ATTEMPT.INITIALIZED') script.init = 'resolve';
      else if (e.type === 'ATTEMPT.FAILED')
        script[phase] = { fail: e.report.kind, message: e.report.summary };
      else if (e.type === 'ATTEMPT.RUN_ENDED') script.run = e.outcome;
      else if (e.type === 'ATTEMPT.RECONNECT') script.run = { requestReconnect: e.reason };
      else if (e.type === 'ATTEMPT.CLOSED') script.close = 'resolve';
      else {
        if (isType(e, SHUTDOWN_AFTER)) {
          script.close = 'hang';
          if (!connected.has(attempt)) noSessionToWaitFor.add(i);
        }
        actions.push(i);
      }
      if (steps[i]?.state.value === 'connecting') attempt++;
    }
    const connector = createScriptedConnector((n) => scripts.get(n) ?? hangs());
    const s = startTestSession(connector, { retry: retryInput, shutdownMs });
    const value = () => s.actor.getSnapshot().value;
    await flush();
    try {
      for (const i of actions) {
        const e = steps[i]?.event as SessionEvent;
        if (noSessionToWaitFor.has(i)) {
          // STOP while connecting, or while waiting after a connect failure: there is no session
          // to wait for, so the real attempt reports closed at once and the shutdown timer is never
          // needed. The path is not feasible further.
          expect(value()).toBe('stopped');
          expect(connector.totals.closes).toBe(connector.totals.sessions);
          return;
        }
        // Before the action: the state the attempt events led to.
        expect(value()).toBe(steps[i - 1]?.state.value);
        if (isType(e, RETRY_AFTER)) s.clock.increment(s.actor.getSnapshot().context.delayMs);
        else if (isType(e, SHUTDOWN_AFTER)) s.clock.increment(shutdownMs);
        else s.actor.send(e);
        // Right after it, before any promise settles: the state the path names.
        expect(value()).toBe(steps[i]?.state.value);
        await flush();
      }
      const expected = distinct(steps.map((st) => st.state.value));
      if (actions.at(-1) === steps.length - 1) {
        // The path ends with an action; what the real attempt does next is beyond the path.
        expect(s.states.slice(0, expected.length)).toEqual(expected);
      } else {
        expect(value()).toBe(path.state.value);
        expect(s.actor.getSnapshot().context.exhausted).toBe(path.state.context.exhausted);
        expect(s.states).toEqual(expected);
      }
      // However the path ended, no session was closed twice, and an ended one closed them all;
      // so does one stopped wherever the path left it.
      for (const a of connector.attempts) expect(a.closeCalls).toBeLessThanOrEqual(1);
      if (s.actor.getSnapshot().status === 'done') {
        expect(connector.totals.closes).toBe(connector.totals.sessions);
      }
      s.actor.stop();
      for (const a of connector.attempts) expect(a.closeCalls).toBe(a.session ? 1 : 0);
    } finally {
      // Paths that end in a running state leave the session running: the replay stops it.
      s.actor.stop();
    }
  });
});
