/**
 * Subpath isolation: importing one entry point of the package loads only what that entry needs.
 * `warden/transports/tcp` never loads the NATS client or `node:http2`; `warden/transports/http2`
 * never loads the NATS client or `node:net`; the main entry `warden` loads none of the NATS client,
 * `node:http2` or `node:net` at import time (the router imports a transport on first use).
 *
 * Each entry's source file (package.json `exports` `./dist/X.js` → `src/X.ts`) is imported in a
 * fresh `node --import tsx` process with two recorders installed: an ESM resolve hook
 * (`module.register`) that logs every specifier resolved, and a wrapper of CommonJS `Module._load`
 * that logs every `require` (dependencies such as pino are CommonJS). Only these user-land loads
 * are judged for `node:net`: Node's own internals load `net` for stdio pipes, so
 * `process.moduleLoadList` is used for `http2` alone, which nothing internal loads on its own.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What may show in an entry's load log. */
type Loadable = '@nats-io' | 'node:http2' | 'node:net';

interface Rule {
  /** Never loaded by this entry. */
  readonly forbid: readonly Loadable[];
  /** Loaded by this entry: shows the recorder sees what is forbidden elsewhere. */
  readonly needs: readonly Loadable[];
}

/** One rule per subpath of package.json `exports` (a new subpath without a rule fails the suite). */
const RULES: Record<string, Rule> = {
  '.': { forbid: ['@nats-io', 'node:http2', 'node:net'], needs: [] },
  './testing': { forbid: ['@nats-io', 'node:http2', 'node:net'], needs: [] },
  './transports/tcp': { forbid: ['@nats-io', 'node:http2'], needs: ['node:net'] },
  './transports/http2': { forbid: ['@nats-io', 'node:net'], needs: ['node:http2'] },
  './transports/nats': { forbid: ['node:http2'], needs: ['@nats-io'] },
  './discovery/nats-kv': { forbid: ['node:http2'], needs: ['@nats-io'] },
};

/** Runs in the main thread before the entry: registers the resolve hook and wraps `require`. */
const REGISTER = `
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const log = process.env.WARDEN_LOAD_LOG;
register(new URL('./hooks.mjs', import.meta.url), { data: { log } });
const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  appendFileSync(log, JSON.stringify({ kind: 'require', specifier: request, parent: parent?.filename ?? null }) + '\\n');
  return load.call(this, request, parent, isMain);
};
process.on('exit', () => {
  const internal = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  appendFileSync(log, JSON.stringify({ kind: 'internal', list: internal }) + '\\n');
});
`;

/** Runs in the loader thread: logs each resolution (specifier, importer, result). */
const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(log, JSON.stringify({ kind: 'import', specifier, parent: context.parentURL ?? null, url: result.url }) + '\\n');
  return result;
}
`;

/** Imports the entry and nothing else; the process exits once its event loop is empty. */
const PROBE = `await import(process.argv[2]);`;

interface LoadRecord {
  kind: 'import' | 'require' | 'internal';
  specifier?: string;
  parent?: string | null;
  url?: string;
  list?: string[];
}

interface EntryLoads {
  readonly subpath: string;
  readonly source: string;
  readonly records: LoadRecord[];
  readonly internal: string[];
  readonly exitCode: number | null;
  readonly stderr: string;
}

/** Package subpaths and their source files: `./dist/X.js` → `src/X.ts`. */
function entries(): Array<{ subpath: string; source: string }> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default?: string }>;
  };
  const out: Array<{ subpath: string; source: string }> = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.default;
    if (file === undefined || !file.startsWith('./dist/') || !file.endsWith('.js')) continue;
    out.push({ subpath, source: join(ROOT, `src/${file.slice('./dist/'.length, -'.js'.length)}.ts`) });
  }
  return out;
}

function loadsOf(dir: string, subpath: string, source: string): Promise<EntryLoads> {
  const log = join(dir, `${subpath.replace(/[^a-z0-9]+/gi, '_') || 'root'}.jsonl`);
  writeFileSync(log, '');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        pathToFileURL(join(dir, 'register.mjs')).href,
        join(dir, 'probe.mjs'),
        pathToFileURL(source).href,
      ],
      { cwd: ROOT, env: { ...process.env, WARDEN_LOAD_LOG: log }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < 8192) stderr += text;
    });
    // A module that keeps the event loop alive at import would hang the probe: that is a failure too.
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', reject);
    child.once('exit', (exitCode) => {
      clearTimeout(killer);
      const records = readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as LoadRecord);
      const internal = records.find((r) => r.kind === 'internal')?.list ?? [];
      resolve({ subpath, source, records, internal, exitCode, stderr });
    });
  });
}

/** The builtin a record loads (`net`, `http2`, …), or undefined. */
function builtinOf(r: LoadRecord): string | undefined {
  const spec = r.kind === 'import' ? r.url : r.specifier;
  if (spec === undefined) return undefined;
  if (r.kind === 'import' && !spec.startsWith('node:')) return undefined;
  return isBuiltin(spec) ? spec.replace(/^node:/, '') : undefined;
}

function matches(r: LoadRecord, what: Loadable): boolean {
  if (r.kind === 'internal') return false;
  if (what === '@nats-io') {
    return (
      r.specifier?.startsWith('@nats-io/') === true || r.url?.includes('/node_modules/@nats-io/') === true
    );
  }
  return builtinOf(r) === what.slice('node:'.length);
}

/** How the entry reached `r`: importer after importer, for a readable failure. */
function chain(loads: EntryLoads, r: LoadRecord): string {
  const byUrl = new Map<string, LoadRecord>();
  for (const rec of loads.records) if (rec.kind === 'import' && rec.url) byUrl.set(rec.url, rec);
  const steps = [r.kind === 'import' ? (r.url ?? '') : `require(${r.specifier})`];
  let parent = r.parent ?? undefined;
  for (let i = 0; parent && i < 50; i++) {
    const p = parent.startsWith('file:') ? parent : pathToFileURL(parent).href;
    steps.push(p.replace(pathToFileURL(ROOT).href, ''));
    parent = byUrl.get(p)?.parent ?? undefined;
  }
  return steps.reverse().join(' → ');
}

function offenders(loads: EntryLoads, what: Loadable): string[] {
  return [...new Set(loads.records.filter((r) => matches(r, what)).map((r) => chain(loads, r)))];
}

describe('package subpaths load only what they need', () => {
  let dir: string;
  const results = new Map<string, EntryLoads>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-subpaths-'));
    writeFileSync(join(dir, 'register.mjs'), REGISTER);
    writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(join(dir, 'probe.mjs'), PROBE);
    const all = await Promise.all(entries().map((e) => loadsOf(dir, e.subpath, e.source)));
    for (const loads of all) results.set(loads.subpath, loads);
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every subpath of package.json exports has a source file and a rule', () => {
    const found = entries();
    expect(found.map((e) => e.subpath).sort()).toEqual(Object.keys(RULES).sort());
    for (const e of found) expect(existsSync(e.source), e.source).toBe(true);
  });

  describe.each(Object.entries(RULES))('%s', (subpath, rule) => {
    const loads = (): EntryLoads => {
      const l = results.get(subpath);
      if (!l) throw new Error(`no load log for ${subpath}`);
      return l;
    };

    it('imports cleanly, with both recorders working', () => {
      const l = loads();
      expect(l.exitCode, l.stderr).toBe(0);
      // The resolve hook saw the entry itself, and the require wrapper saw CommonJS loads (pino).
      expect(l.records.some((r) => r.kind === 'import' && r.url === pathToFileURL(l.source).href)).toBe(true);
      expect(l.records.some((r) => r.kind === 'require')).toBe(true);
      expect(l.internal.length).toBeGreaterThan(0);
    });

    it.each(rule.forbid)('never loads %s', (what) => {
      const l = loads();
      expect(offenders(l, what)).toEqual([]);
      if (what === 'node:http2') expect(l.internal).not.toContain('http2');
    });

    it.runIf(rule.needs.length > 0).each(rule.needs)('loads %s (the recorder sees it)', (what) => {
      const l = loads();
      expect(offenders(l, what).length).toBeGreaterThan(0);
      if (what === 'node:http2') expect(l.internal).toContain('http2');
    });
  });
});
