/**
 * The leak check most test files share: after each test the actors it made are stopped, and after
 * the file nothing it started is left (no timer, supervisor or session).
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { cleanupTestActors, watchForLeaks } from '../../src/testing/index.js';

/** Registers the hooks; call once at the top of a test file. */
export function checkLeaksAfterAll(): void {
  let leaks: ReturnType<typeof watchForLeaks>;
  beforeAll(() => {
    leaks = watchForLeaks();
  });
  afterEach(() => cleanupTestActors());
  afterAll(() => {
    expect(leaks.check()).toEqual({ timers: 0, supervisors: [], sessions: 0 });
  });
}
