import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamTable } from '../../../src/transports/tcp/stream-table.js';

describe('tcp stream table', () => {
  it('behaves as a Map of stream ids under any sequence of set, delete and get', () => {
    const id = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffff_ffff }));
    const op = fc.tuple(fc.constantFrom('set', 'delete', 'get', 'has'), id);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const table = new StreamTable<number>(16);
        const map = new Map<number, number>();
        ops.forEach(([kind, key], n) => {
          if (kind === 'set') {
            table.set(key, n);
            map.set(key, n);
          } else if (kind === 'delete') {
            expect(table.delete(key)).toBe(map.delete(key));
          } else if (kind === 'get') {
            expect(table.get(key)).toBe(map.get(key));
          } else {
            expect(table.has(key)).toBe(map.has(key));
          }
          expect(table.size).toBe(map.size);
        });
        expect(table.values().sort((a, b) => a - b)).toEqual([...map.values()].sort((a, b) => a - b));
        for (const [key, value] of map) expect(table.get(key)).toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps up with ids counting up past thousands of streams, and forgets deleted ones', () => {
    const table = new StreamTable<{ id: number }>();
    for (let id = 1; id <= 5000; id++) {
      table.set(id, { id });
      if (id > 64) expect(table.delete(id - 64)).toBe(true);
    }
    expect(table.size).toBe(64);
    expect(table.get(4936)).toBeUndefined();
    expect(table.get(4937)).toEqual({ id: 4937 });
    table.clear();
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });
});
