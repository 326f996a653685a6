/**
 * A request-plane client whose instances are scripts, for router tests that need exact control:
 * each address answers as its script says, through the real caller-side `ResponseStream` (so
 * signals, deadlines and early exits behave as with a real transport).
 */
import { collect, ResponseStream } from '../../src/actors/response-stream.js';
import { WardenError } from '../../src/core/errors.js';
import type { CallOptions, CallTarget, RequestPlaneClient } from '../../src/core/request-plane.js';

/** What an instance does with a call: push chunks, end or fail, now or later. */
export type Script = (call: { stream: ResponseStream; body: unknown; target: CallTarget }) => void;

/** Answers with `value` as one chunk. */
export const reply =
  (value: unknown): Script =>
  ({ stream }) => {
    queueMicrotask(() => {
      stream.push(value);
      stream.end();
    });
  };

/** Fails before any chunk with `code`. */
export const fail =
  (code: WardenError['code']): Script =>
  ({ stream }) => {
    queueMicrotask(() => stream.error(new WardenError(code, `scripted ${code}`)));
  };

/** Never answers (until the caller cancels or its deadline passes); `release()` ends them all. */
export function hang(): Script & { release(value: unknown): void; readonly waiting: number } {
  const open = new Set<ResponseStream>();
  const script = (({ stream }) => {
    open.add(stream);
  }) as Script & { release(value: unknown): void; waiting: number };
  script.release = (value) => {
    for (const s of open) {
      s.push(value);
      s.end();
    }
    open.clear();
  };
  Object.defineProperty(script, 'waiting', { get: () => [...open].filter((s) => !s.done).length });
  return script;
}

export class FakeClient implements RequestPlaneClient {
  readonly scripts = new Map<string, Script>();
  /** The address of every call, in order. */
  readonly calls: string[] = [];
  closed = false;

  call(target: CallTarget, body: unknown, opts: CallOptions = {}): ResponseStream {
    const stream = new ResponseStream(opts);
    return stream.attach({
      send: () => {
        if (this.closed) throw new WardenError('WARDEN_CLIENT_CLOSED', 'closed');
        this.calls.push(target.address);
        const script = this.scripts.get(target.address);
        if (!script) throw new WardenError('WARDEN_CONNECTION_FAILED', `nothing at ${target.address}`);
        script({ stream, body, target });
      },
      cancel: () => {},
    });
  }

  request(target: CallTarget, body: unknown, opts?: CallOptions): Promise<unknown> {
    return collect(this.call(target, body, opts));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** How many calls went to each address. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.calls) out[a] = (out[a] ?? 0) + 1;
    return out;
  }
}
