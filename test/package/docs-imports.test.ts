import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every `import { … } from 'warden…'` shown in the README and docs/ must work for a user: the
// subpath must be in package.json's exports and every value it names must be exported there.
// Names written `type X` are checked by the compiler in the examples only, so they are skipped.

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
};

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

interface DocImport {
  readonly file: string;
  readonly specifier: string;
  readonly names: readonly string[];
}

const IMPORT = /import\s*\{([^}]*)\}\s*from\s*'(warden(?:\/[^']*)?)'/g;

function docImports(): DocImport[] {
  const files = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];
  return files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => ({
      file: relative(ROOT, file),
      specifier: m[2]!,
      names: m[1]!
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n && !n.startsWith('type '))
        .map((n) => n.split(/\s+as\s+/)[0]!),
    })),
  );
}

/** The source file behind a package subpath: `./dist/x/index.js` → `src/x/index.ts`. */
function sourceOf(specifier: string): string | undefined {
  const sub = specifier === pkg.name ? '.' : `./${specifier.slice(pkg.name.length + 1)}`;
  const target = pkg.exports[sub];
  if (!target || typeof target === 'string') return undefined;
  return join(ROOT, target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));
}

describe('imports shown in the README and docs', () => {
  const imports = docImports();

  it('are found (the docs show the package in use)', () => {
    expect(imports.length).toBeGreaterThan(5);
    expect(new Set(imports.map((i) => i.file))).toContain('README.md');
  });

  it('name subpaths in package.json exports and values those subpaths export', async () => {
    const problems: string[] = [];
    for (const { file, specifier, names } of imports) {
      const source = sourceOf(specifier);
      if (!source) {
        problems.push(`${file}: '${specifier}' is not in package.json exports`);
        continue;
      }
      const mod = (await import(source)) as Record<string, unknown>;
      for (const name of names) {
        if (!(name in mod)) problems.push(`${file}: '${name}' is not exported by '${specifier}'`);
      }
    }
    expect(problems).toEqual([]);
  });
});
