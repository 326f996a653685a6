import { type ClientRequest, get, type IncomingMessage } from 'node:http';

/** One server-sent event. */
export interface SseEvent {
  readonly event: string;
  readonly data: unknown;
  /** When it arrived (ms, `performance.now()`). */
  readonly at: number;
}

/** A test reader of a `/events` stream: collects events and waits for the ones a test expects. */
export interface SseReader {
  readonly events: SseEvent[];
  readonly response: IncomingMessage;
  /** Resolves with the first event (from index `from` on) that matches, or rejects after `timeoutMs`. */
  next(match: (e: SseEvent) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens `url` as an event stream. */
export function openEvents(url: string): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const waiters = new Set<() => void>();
    let req: ClientRequest;
    let endResolve: () => void = () => {};
    const ended = new Promise<void>((r) => {
      endResolve = r;
    });
    req = get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf('\n\n');
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          events.push({ event, data: JSON.parse(data.join('\n')), at: performance.now() });
          for (const w of [...waiters]) w();
        }
      });
      res.on('end', () => endResolve());
      res.on('close', () => endResolve());
      resolve({
        events,
        response: res,
        ended,
        close: () => req.destroy(),
        next(match, options = {}) {
          const timeoutMs = options.timeoutMs ?? 3000;
          let from = options.from ?? 0;
          return new Promise((ok, fail) => {
            const check = (): boolean => {
              for (; from < events.length; from++) {
                const e = events[from] as SseEvent;
                if (match(e)) {
                  ok(e);
                  return true;
                }
              }
              return false;
            };
            if (check()) return;
            const waiter = (): void => {
              if (check()) {
                waiters.delete(waiter);
                clearTimeout(timer);
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              fail(
                new Error(
                  `no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(', ')}`,
                ),
              );
            }, timeoutMs);
            waiters.add(waiter);
          });
        },
      });
    });
    req.on('error', reject);
  });
}
