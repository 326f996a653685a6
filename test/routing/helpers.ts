import type { InstanceRecord } from '../../src/discovery/discovery.js';
import { MemoryDiscovery } from '../../src/discovery/memory.js';
import { createRouter, type Router, type RouterOptions } from '../../src/routing/router.js';
import { FakeClient } from './fake-client.js';

export const PATH = { namespace: 'shop', component: 'cart', endpoint: 'add' } as const;

/** Instance `n` of PATH on the fake transport: id `000000000000000n`, address `tcp://fake-n:1`. */
export function instance(n: number, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    ...PATH,
    instanceId: n.toString(16).padStart(16, '0'),
    transport: 'tcp',
    address: `tcp://fake-${n}:1`,
    meta: {},
    ...over,
  };
}

/** A router over a MemoryDiscovery holding `n` fake instances, all answering with their address. */
export async function fakeRouter(
  n: number,
  options: Partial<RouterOptions> = {},
): Promise<{ router: Router; discovery: MemoryDiscovery; client: FakeClient; instances: InstanceRecord[] }> {
  const discovery = new MemoryDiscovery();
  const client = new FakeClient();
  const instances: InstanceRecord[] = [];
  for (let i = 1; i <= n; i++) {
    const r = instance(i);
    instances.push(r);
    await discovery.register(r);
    client.scripts.set(r.address, ({ stream }) =>
      queueMicrotask(() => {
        stream.push(r.address);
        stream.end();
      }),
    );
  }
  const router = createRouter({ discovery, clients: { tcp: client }, ...options });
  return { router, discovery, client, instances };
}
