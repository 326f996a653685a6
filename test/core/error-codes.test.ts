import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, isWardenError, WardenError } from '../../src/core/errors.js';

const root = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the error code table', () => {
  const codes = Object.keys(ErrorCodes);

  it('has unique codes that all start with WARDEN_', () => {
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^WARDEN_[A-Z_]+$/);
  });

  it('documents every code in docs/errors.md, and nothing else', () => {
    const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(WARDEN_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...codes].sort());
  });

  it('uses every code somewhere in src/ besides the table', () => {
    const text = sources(join(root, 'src'))
      .filter((f) => !f.endsWith(join('core', 'errors.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unused = codes.filter((code) => !text.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('builds errors with name, code, cause, and a wire form without stack', () => {
    const cause = new Error('low level');
    const err = new WardenError('WARDEN_TIMEOUT', 'took too long', { cause });
    expect(err.name).toBe('WardenError');
    expect(err.cause).toBe(cause);
    expect(isWardenError(err, 'WARDEN_TIMEOUT')).toBe(true);
    expect(isWardenError(err, 'WARDEN_CANCELLED')).toBe(false);
    expect(err.toWire()).toEqual({ code: 'WARDEN_TIMEOUT', message: 'took too long' });
  });
});
