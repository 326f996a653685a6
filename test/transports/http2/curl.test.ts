import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMP, type Fixture, NS, startFixture } from './helpers.js';

const run = promisify(execFile);

function curlHttp2(): { ok: boolean; why: string } {
  try {
    const version = execFileSync('curl', ['--version'], { encoding: 'utf8' });
    const features = version.split('\n').find((l) => l.startsWith('Features:')) ?? '';
    return /\bHTTP2\b/.test(features)
      ? { ok: true, why: '' }
      : { ok: false, why: 'curl is installed but its Features line lacks HTTP2 (no nghttp2)' };
  } catch {
    return { ok: false, why: 'curl is not installed' };
  }
}

const curl = curlHttp2();
if (!curl.ok) console.warn(`skipping the curl interop test: ${curl.why}`);

describe('http2 interop with curl', () => {
  let f: Fixture;

  beforeAll(async () => {
    f = await startFixture();
    await f.register('ep', async (body) => ({ got: body }));
    await f.register('count', async function* () {
      yield { i: 0 };
      yield { i: 1 };
    });
  });

  afterAll(async () => {
    await f.close();
  });

  it.skipIf(!curl.ok)(
    'answers curl --http2-prior-knowledge with readable JSON, streams and errors',
    async () => {
      const base = `${f.server.address()}/v1/${NS}/${COMP}`;
      const args = [
        '-sS',
        '--http2-prior-knowledge',
        '--max-time',
        '10',
        '-H',
        'content-type: application/json',
      ];
      const unary = await run('curl', [...args, '-d', '{"x":1}', `${base}/ep`], { timeout: 15_000 });
      expect(unary.stdout).toBe('{"got":{"x":1}}\n');

      const stream = await run('curl', [...args, '-d', '{}', `${base}/count`], { timeout: 15_000 });
      expect(stream.stdout).toBe('{"i":0}\n{"i":1}\n');

      const missing = await run('curl', [...args, '-i', '-d', '{}', `${base}/missing`], { timeout: 15_000 });
      expect(missing.stdout).toMatch(/^HTTP\/2 404/);
      expect(missing.stdout).toContain('{"code":"WARDEN_ENDPOINT_NOT_FOUND"');
    },
  );
});
