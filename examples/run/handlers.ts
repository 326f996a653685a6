/** Endpoint handlers for `warden run` (see warden.json next to this file). */
import type { RequestContext } from '../../src/core/request-plane.js';

/** `plant/press/readings`: streams `count` readings, one every 200 ms. */
export async function* readings(
  request: unknown,
  ctx: RequestContext,
): AsyncIterable<{ n: number; value: number }> {
  const { count = 5 } = (request ?? {}) as { count?: number };
  for (let n = 1; n <= count && !ctx.signal.aborted; n++) {
    yield { n, value: Math.round(1000 + 50 * Math.sin(n)) };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `plant/press/status` (the default export): one answer. */
export default async function status(): Promise<{ ok: true; at: string }> {
  return { ok: true, at: new Date().toISOString() };
}
