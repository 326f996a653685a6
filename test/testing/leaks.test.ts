import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  cleanupTestActors,
  createScriptedConnector,
  createTestSupervisor,
  flush,
  startTestSession,
  unfinishedSupervisors,
  watchForLeaks,
} from '../../src/testing/index.js';

// The leak check of the kit: it must fail when a test leaves something running. These tests leak
// on purpose, so each watches on its own instead of the file-wide `watchForLeaks` of other files.
afterEach(() => cleanupTestActors());

const NOTHING = { timers: 0, supervisors: [], sessions: 0 };

function startSupervisor(id: string) {
  return createTestSupervisor({
    id,
    clock: new SimulatedClock(),
    children: [{ id: 'db', connector: createScriptedConnector([{}]) }],
  }).start();
}

describe('watchForLeaks and cleanupTestActors', () => {
  it('report a supervisor and a session the test left running, also after cleanup stopped them', async () => {
    const leaks = watchForLeaks();
    const sup = startSupervisor('forgotten');
    const s = startTestSession(createScriptedConnector([{}]));
    await flush();
    expect(leaks.check()).toEqual({ timers: 0, supervisors: ['forgotten'], sessions: 1 });

    expect(await cleanupTestActors()).toEqual({ supervisors: ['forgotten'], sessions: 1 });
    expect(sup.getSnapshot().state).toBe('stopped');
    expect(s.actor.getSnapshot().status).toBe('stopped');
    // Stopped now, but by the cleanup: the test leaked them, and the check still says so.
    expect(leaks.check()).toEqual({ timers: 0, supervisors: ['forgotten'], sessions: 1 });
    // A watch begun afterwards does not inherit them, and a second cleanup finds nothing.
    expect(watchForLeaks().check()).toEqual(NOTHING);
    expect(await cleanupTestActors()).toEqual({ supervisors: [], sessions: 0 });
  });

  it('report nothing for what the test stopped itself, nor for what never started', async () => {
    const leaks = watchForLeaks();
    const sup = startSupervisor('tidy');
    const s = startTestSession(createScriptedConnector([{}]));
    createTestSupervisor({ id: 'never-started' });
    startTestSession(createScriptedConnector([{}]), { start: false });
    await flush();
    expect(unfinishedSupervisors()).toEqual(['tidy']);
    await sup.stop();
    s.actor.stop();
    expect(await cleanupTestActors()).toEqual({ supervisors: [], sessions: 0 });
    expect(leaks.check()).toEqual(NOTHING);
  });

  it('count a session made with start: false once the test started it', async () => {
    const leaks = watchForLeaks();
    const s = startTestSession(createScriptedConnector([{}]), { start: false });
    s.actor.start();
    await flush();
    expect(await cleanupTestActors()).toEqual({ supervisors: [], sessions: 1 });
    expect(leaks.check()).toMatchObject({ sessions: 1 });
  });

  it('count a real timer left behind', () => {
    const leaks = watchForLeaks();
    const timer = setTimeout(() => {}, 60_000);
    expect(leaks.check()).toEqual({ ...NOTHING, timers: 1 });
    clearTimeout(timer);
    expect(leaks.check()).toEqual(NOTHING);
  });
});
