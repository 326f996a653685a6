/**
 * The server's bookkeeping of its responders: the requests in flight ({@link ResponderList}) and
 * the responders whose held chunks are due to be sent ({@link FlushQueue}).
 */
import type { NatsResponder } from './responder.js';

/**
 * The requests a server has in flight, linked through the responders themselves. A `Map` or `Set`
 * with an entry added and deleted per request costs more than the request's own objects: its
 * tables are re-made as entries churn and keep responders alive past scavenges (measured: most of
 * the bytes promoted per request). Lookups by key go through a map of the streaming responders only.
 */
export class ResponderList {
  size = 0;
  private head: NatsResponder | undefined = undefined;

  add(r: NatsResponder): void {
    r.next = this.head;
    if (this.head) this.head.prev = r;
    this.head = r;
    this.size++;
  }

  delete(r: NatsResponder): void {
    if (r.prev) r.prev.next = r.next;
    else if (this.head === r) this.head = r.next;
    else return; // not in the list
    if (r.next) r.next.prev = r.prev;
    r.prev = undefined;
    r.next = undefined;
    this.size--;
  }

  /** The responders now in the list (a copy: callers end them while iterating). */
  toArray(): NatsResponder[] {
    const out: NatsResponder[] = [];
    for (let r = this.head; r; r = r.next) out.push(r);
    return out;
  }

  /** The first responder matching `test`, or undefined. */
  find(test: (r: NatsResponder) => boolean): NatsResponder | undefined {
    for (let r = this.head; r; r = r.next) if (test(r)) return r;
    return undefined;
  }
}

/**
 * When held chunks are sent. Streams flush after the I/O of the current turn of the event loop
 * (`setImmediate`), so the chunks a handler produced meanwhile go out together; a microtask first
 * drops the unary responses that have already ended (their chunk went out with the end as `last`),
 * so those cost no timer. One queue per server, not a closure per chunk.
 */
export class FlushQueue {
  private held: NatsResponder[] = [];
  private due: NatsResponder[] = [];

  /** Queues a responder that holds chunks. */
  add(responder: NatsResponder): void {
    if (this.held.length === 0) queueMicrotask(this.sortHeld);
    this.held.push(responder);
  }

  private readonly sortHeld = (): void => {
    const held = this.held;
    this.held = [];
    for (const r of held) {
      if (r.finished) r.scheduled = false;
      else {
        if (this.due.length === 0) setImmediate(this.flushDue);
        this.due.push(r);
      }
    }
  };

  private readonly flushDue = (): void => {
    const due = this.due;
    this.due = [];
    for (const r of due) r.flush();
  };
}
