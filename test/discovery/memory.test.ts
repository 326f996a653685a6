import { describe, expect, it } from 'vitest';
import { MemoryDiscovery } from '../../src/discovery/memory.js';
import { discoveryContract, record } from './contract.js';

discoveryContract('MemoryDiscovery', async () => new MemoryDiscovery());

describe('MemoryDiscovery', () => {
  it('hands each watcher every change before register/unregister returns', async () => {
    const d = new MemoryDiscovery();
    const seen: string[] = [];
    const iter = d.watch({ namespace: 'shop' })[Symbol.asyncIterator]();
    const a = record('shop');
    await d.register(a);
    await d.unregister(a.instanceId);
    // Everything is queued already: three reads resolve without waiting on anything else.
    for (let i = 0; i < 3; i++) {
      const r = await iter.next();
      seen.push(r.done ? 'end' : r.value.type);
    }
    expect(seen).toEqual(['synced', 'added', 'removed']);
    await d.close();
  });
});
