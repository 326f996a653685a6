import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, startFixture, waitFor } from './helpers.js';

const CHUNKS = 3000;
const CHUNK_CHARS = 1024;

describe('http2 back-pressure', () => {
  let f: Fixture;
  let produced = 0;

  beforeAll(async () => {
    f = await startFixture();
    await f.register('firehose', async function* () {
      for (let i = 0; i < CHUNKS; i++) {
        produced++;
        yield `${String(i).padStart(8, '0')}${'.'.repeat(CHUNK_CHARS - 8)}`;
      }
    });
  });

  afterAll(async () => {
    await f.close();
  });

  /** Resolves once `produced` has not moved for `quietMs`. */
  async function settled(quietMs = 250): Promise<number> {
    let last = -1;
    let since = Date.now();
    await waitFor(() => {
      if (produced !== last) {
        last = produced;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= quietMs;
    }, 5000);
    return produced;
  }

  it('pauses the handler while the caller does not read, and resumes it when it reads again', async () => {
    const it = f.client.call(f.target('firehose'), null)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(String(first.value).slice(0, 8)).toBe('00000000');

    // The caller reads nothing more: the handler must stop at a bound far below the whole stream.
    const stalled = await settled();
    expect(stalled).toBeGreaterThan(1);
    expect(stalled).toBeLessThan(CHUNKS / 5);
    const endpoint = f.server.endpoints().find((e) => e.endpoint === 'firehose');
    expect(endpoint?.inflight).toBe(1);

    // Reading again drains everything, complete and in order.
    let expected = 1;
    for (let step = await it.next(); !step.done; step = await it.next()) {
      expect(Number(String(step.value).slice(0, 8))).toBe(expected);
      expected++;
    }
    expect(expected).toBe(CHUNKS);
    expect(produced).toBe(CHUNKS);
  });
});
