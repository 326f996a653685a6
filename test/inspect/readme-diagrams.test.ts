import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machinesMarkdown } from '../../src/inspect/machines.js';

const START = '<!-- machines:start -->';
const END = '<!-- machines:end -->';

describe('README machine diagrams', () => {
  it('match the machine definitions (regenerate with `warden machines --format mermaid`)', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(
      start >= 0 && end > start,
      `README.md must hold the diagrams between ${START} and ${END}: paste the output of \`npx tsx src/cli/main.ts machines --format mermaid\` there`,
    ).toBe(true);
    const copy = readme.slice(start + START.length, end).trim();
    expect(
      copy,
      'README.md has a stale copy of the machine diagrams: replace the block between the markers with the output of `npx tsx src/cli/main.ts machines --format mermaid`',
    ).toBe(machinesMarkdown().trim());
  });
});
