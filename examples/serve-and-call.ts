/**
 * Serve two endpoints over TCP and call them: a unary one with a zod schema, and a streamed one.
 * The README shows the same code.
 *
 * Run:  npx tsx examples/serve-and-call.ts
 */
import { z } from 'zod';
import { newInstanceId, SystemHealth, type WardenError } from '../src/index.js';
import { createTcpClient, createTcpServer } from '../src/transports/tcp/index.js';

const health = new SystemHealth();
const server = createTcpServer(); // 127.0.0.1, any free port
await server.start();
const common = { namespace: 'shop', component: 'cart', instanceId: newInstanceId(), health };
await server.registerEndpoint({
  ...common,
  endpoint: 'add',
  schema: z.object({ sku: z.string(), qty: z.number().int().positive() }),
  handler: async (body) => ({ added: body }),
});
await server.registerEndpoint({
  ...common,
  endpoint: 'countdown',
  handler: async function* (body, ctx) {
    for (let n = (body as { from: number }).from; n >= 0 && !ctx.signal.aborted; n--) yield n;
  },
});

const client = createTcpClient();
const target = { address: server.address(), namespace: 'shop', component: 'cart' };
console.log(await client.request({ ...target, endpoint: 'add' }, { sku: 'a1', qty: 2 }));
for await (const n of client.call({ ...target, endpoint: 'countdown' }, { from: 3 }, { timeoutMs: 1000 })) {
  console.log('chunk', n);
}
await client.request({ ...target, endpoint: 'add' }, { sku: 'a1', qty: 0 }).catch((err: WardenError) => {
  console.log(err.code, err.message); // WARDEN_INVALID_REQUEST, with zod's issue
});
await client.close();
await server.stop({ drainMs: 1000 });
