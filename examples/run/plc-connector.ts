/**
 * A connector module for `warden run` (see warden.json next to it): a simulated PLC whose
 * connection drops every `dropEveryMs`. `warden run` imports the default export, a connector
 * factory from `defineConnector`, and calls `create(options)` with the child's validated options.
 */
import { z } from 'zod';
import { defineConnector } from '../../src/index.js';

export default defineConnector({
  name: 'simulated-plc',
  options: z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65_535).default(502),
      /** 0: never drops. */
      dropEveryMs: z.number().int().nonnegative().default(0),
    })
    .strict(),
  create: ({ host, port, dropEveryMs }) => ({
    async connect(ctx) {
      ctx.log.info({ host, port }, 'connecting');
      return {
        handle: { host, port },
        init: async () => {},
        run: (runCtx) =>
          new Promise((resolve) => {
            const timer =
              dropEveryMs > 0 ? setTimeout(() => resolve({ type: 'disconnected' }), dropEveryMs) : undefined;
            runCtx.signal.addEventListener(
              'abort',
              () => {
                clearTimeout(timer);
                resolve({ type: 'disconnected' });
              },
              { once: true },
            );
          }),
      };
    },
    classifyError: () => 'retryable',
  }),
});
