/**
 * `npm run build` makes a package a user can install: JavaScript with declarations for every
 * entry point in package.json's exports, and a `warden` bin that runs.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
};

let out: string;

beforeAll(async () => {
  // Inside the project, so that the built files resolve their dependencies from its node_modules.
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  out = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'warden-build-'));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', out], { cwd: ROOT }).catch(
    (err: { stdout?: string }) => {
      throw new Error(`npm run build fails:\n${err.stdout ?? String(err)}`);
    },
  );
}, 60_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** `./dist/x.js` → the same file in this test's build directory. */
const built = (path: string): string => join(out, path.replace(/^\.\/dist\//, ''));

describe('npm run build', () => {
  it('emits JavaScript and declarations for every entry point, and each one loads', async () => {
    const entries = Object.entries(pkg.exports).filter(([, t]) => typeof t !== 'string');
    expect(entries.length).toBeGreaterThanOrEqual(6);
    for (const [sub, target] of entries) {
      if (typeof target === 'string') continue;
      expect(existsSync(built(target.types)), `${sub}: ${target.types}`).toBe(true);
      const mod = (await import(pathToFileURL(built(target.default)).href)) as Record<string, unknown>;
      expect(Object.keys(mod).length, `${sub} exports something`).toBeGreaterThan(0);
    }
  });

  it('makes a warden bin that runs', async () => {
    const bin = built(pkg.bin.warden!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const { stdout } = await run(process.execPath, [bin, 'machines', '--format', 'mermaid'], { cwd: ROOT });
    expect(stdout.match(/stateDiagram-v2/g)).toHaveLength(3);
  });
});
