/**
 * The examples the README points to run as a user runs them (`npx tsx examples/…`), end by
 * themselves with exit code 0, and print what they promise.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

async function runExample(file: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FORCE_COLOR;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'examples', file)],
    {
      cwd: ROOT,
      env,
      timeout: 15_000,
    },
  );
  return stdout;
}

describe('examples', () => {
  it('flaky-connector: refused twice with a failure report each time, then ready, then stopped', async () => {
    const out = await runExample('flaky-connector.ts');
    const failures = out.split('\n').filter((l) => l.trim().startsWith('failure: connect ECONNREFUSED'));
    expect(failures).toHaveLength(2);
    expect(failures[0]).toContain('(phase connect, retryable, attempt 1)');
    expect(failures[1]).toContain('(phase connect, retryable, attempt 2)');
    expect(out).toContain('plc: initializing → ready (attempt 3)');
    expect(out).toContain('plc: stopping → stopped (attempt 3)');
    expect(out).toMatch(/supervisor stopped; plc is stopped\s*$/);
  }, 20_000);

  it('serve-and-call: a unary result, a streamed countdown, and a schema error with zod’s issue', async () => {
    const out = await runExample('serve-and-call.ts');
    expect(out.split('\n').filter(Boolean)).toEqual([
      "{ added: { sku: 'a1', qty: 2 } }",
      'chunk 3',
      'chunk 2',
      'chunk 1',
      'chunk 0',
      "WARDEN_INVALID_REQUEST Invalid request body for 'shop/cart/add': qty: Too small: expected number to be >0",
    ]);
  }, 20_000);
});
