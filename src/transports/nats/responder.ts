/**
 * The server side of one NATS request: a {@link ResponseSink} that publishes chunks, the end or the
 * error to the caller's reply subject, numbered, split to fit `max_payload`, and paced by the
 * caller's acks.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { EndpointRegistry } from '../../actors/endpoint-registry.js';
import { type BodyKind, encodeBody } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';
import type { InflightRequest, ResponseSink, WireError } from '../../core/request-plane.js';
import { encodeWireError, HEADER_ROOM, MessageType } from './codec.js';
import { messageHeaders } from './headers.js';

/** What a responder needs from its server. */
export interface ResponderHost {
  /** The server's endpoints (a responder counts its response bytes there). */
  readonly registry: EndpointRegistry;
  /** Largest chunk a handler may send (bytes, after encoding). */
  readonly maxMessageBytes: number;
  /** Response messages a caller may have unacked before the handler is paused. */
  readonly streamWindow: number;
  /** The response has ended (either way): forget the request. */
  requestDone(responder: NatsResponder): void;
  /** Has `responder.flush()` called soon (see {@link FlushQueue}). */
  scheduleFlush(responder: NatsResponder): void;
}

interface Encoded {
  readonly kind: BodyKind;
  readonly bytes: Uint8Array;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Chunks held before they are published at once (nats.js then writes them to the socket together). */
const BATCH = 64;

/**
 * Publishes one response. Chunks are held until the server's next flush (a `setImmediate`, or at
 * once when {@link BATCH} are held), so a stream's chunks go out in batches rather than one socket
 * write each; the last chunk and the end travel as one `last` message, so a unary call is one
 * message each way.
 */
export class NatsResponder implements ResponseSink {
  /** Set by the server right after dispatch. */
  inflight: InflightRequest | undefined;
  /** True once `end` or `error` ran. */
  finished = false;
  private seq = 0;
  private acked = 0;
  private pending: Encoded[] = [];
  /** In the host's flush queue. */
  scheduled = false;
  /** The caller went away: nothing more is published. */
  private silent = false;
  private waiter: (() => void) | undefined;
  private readonly maxPayload: number;

  constructor(
    private readonly host: ResponderHost,
    /** The server's key of this request (the last token of its control subject). */
    readonly key: number,
    /** The caller's reply subject. */
    readonly reply: string,
    private readonly conn: NatsConnection,
    /** The server's control prefix; `{controlBase}.{key}` is sent as the reply subject of non-final messages. */
    private readonly controlBase: string,
  ) {
    this.maxPayload = conn.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  chunk(value: unknown): void | Promise<void> {
    if (this.finished) return;
    const encoded = encodeBody(value);
    if (encoded.bytes.length > this.host.maxMessageBytes) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk of ${encoded.bytes.length} bytes exceeds the server's maxMessageBytes (${this.host.maxMessageBytes}); send smaller chunks`,
      );
    }
    this.pending.push(encoded);
    if (this.pending.length >= BATCH) this.sendPending(undefined);
    else if (!this.scheduled) {
      this.scheduled = true;
      this.host.scheduleFlush(this);
    }
    if (this.seq + this.pending.length - this.acked >= this.host.streamWindow && !this.silent) {
      return new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      if (this.pending.length > 0) this.sendPending(MessageType.last);
      else this.publish(MessageType.end, undefined, undefined);
    } catch {
      // The connection is gone; the caller learns it from its own connection.
    }
    this.done();
  }

  error(err: WireError): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.sendPending(undefined);
      this.publish(MessageType.error, encodeWireError(err), undefined);
    } catch {
      // As in end().
    }
    this.done();
  }

  /** The caller acked `count` response messages. */
  ack(count: number): void {
    if (!Number.isFinite(count) || count <= this.acked) return;
    this.acked = count;
    if (this.waiter && this.seq - this.acked < this.host.streamWindow) this.release();
  }

  /** The caller went away (cancel, or NATS reported no responders on its reply subject): stop the handler, send nothing. */
  callerGone(): void {
    this.silent = true;
    this.release();
    this.inflight?.cancel();
  }

  /** The server's connection dropped: stop the handler (its signal says why), send nothing. */
  connectionLost(reason: string): void {
    this.silent = true;
    this.release();
    this.inflight?.fail({
      code: 'WARDEN_CONNECTION_CLOSED',
      message: `The NATS connection closed: ${reason}`,
    });
  }

  /** Sends the held chunks as `chunk`s (more may follow); the host's flush queue calls it. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.finished) return;
    try {
      this.sendPending(undefined);
    } catch {
      this.callerGone();
    }
  }

  /** Sends the held chunks; the last one as `lastType` when given (`last`), else all as `chunk`. */
  private sendPending(lastType: MessageType | undefined): void {
    const chunks = this.pending;
    this.pending = [];
    const n = chunks.length;
    for (let i = 0; i < n; i++) {
      this.send(i === n - 1 && lastType ? lastType : MessageType.chunk, chunks[i] as Encoded);
    }
  }

  /** Sends one chunk, split into `part`s when it does not fit the server's `max_payload`. */
  private send(type: MessageType, chunk: Encoded): void {
    const room = this.maxPayload - HEADER_ROOM;
    const bytes = chunk.bytes;
    if (bytes.length <= room) {
      this.publish(type, bytes, chunk.kind);
    } else {
      for (let at = 0; at < bytes.length; at += room) {
        const end = Math.min(at + room, bytes.length);
        this.publish(end === bytes.length ? type : MessageType.part, bytes.subarray(at, end), chunk.kind);
      }
    }
    const registry = this.host.registry;
    if (registry.countsBytes && !this.silent) registry.sent(this.inflight, bytes.length);
  }

  private publish(type: MessageType, data: Uint8Array | undefined, kind: BodyKind | undefined): void {
    if (this.silent) return;
    if (this.conn.isClosed()) {
      throw new WardenError(
        'WARDEN_CONNECTION_CLOSED',
        'The NATS connection closed; the response cannot be delivered',
      );
    }
    const headers = messageHeaders(type, this.seq++, kind);
    // Non-final messages carry the control subject: the caller sends cancel and acks there, and NATS
    // answers there with a 503 status when the caller's reply subject has no subscriber any more.
    const final = type === MessageType.last || type === MessageType.end || type === MessageType.error;
    if (final) this.conn.publish(this.reply, data, { headers });
    else this.conn.publish(this.reply, data, { headers, reply: `${this.controlBase}.${this.key}` });
  }

  private release(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private done(): void {
    this.release();
    this.host.requestDone(this);
  }
}

/**
 * When held chunks are sent. Streams flush after the I/O of the current turn of the event loop
 * (`setImmediate`), so the chunks a handler produced meanwhile go out together in one socket write;
 * a microtask first drops the unary responses that have already ended (their chunk went out with
 * the end as `last`), so those cost no timer. One queue per server, not a closure per chunk.
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
