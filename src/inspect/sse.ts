import type { ServerResponse } from 'node:http';

/** Bytes a page may have waiting in its socket buffer before it is considered behind. */
const MAX_BUFFERED = 4 * 1024 * 1024;

/**
 * One page connected to `/events`. Writes server-sent events; a page that cannot keep up misses
 * batches and gets a fresh snapshot once it has caught up, so a slow browser never makes the
 * server buffer without bound.
 */
export class SseClient {
  private blocked = false;
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly resync: (client: SseClient) => void,
  ) {}

  /** Sends the response headers and the reconnect delay. */
  open(retryMs: number): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.res.write(`retry: ${retryMs}\n\n`);
  }

  /**
   * Sends one event. While more than {@link MAX_BUFFERED} bytes wait in the socket's buffer, the
   * client is behind: events are dropped, and once the buffer drains it gets a fresh snapshot.
   */
  send(event: string, data: string): void {
    if (this.closed || this.blocked) return;
    if (this.res.writableLength > MAX_BUFFERED) {
      this.blocked = true;
      this.res.once('drain', () => {
        this.blocked = false;
        if (!this.closed) this.resync(this);
      });
      return;
    }
    this.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  /** A comment line that keeps proxies and the browser from timing the stream out. */
  ping(): void {
    if (!this.closed && !this.blocked) this.res.write(': ping\n\n');
  }

  /** Ends the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
