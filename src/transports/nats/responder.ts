/**
 * The server side of one NATS request: a {@link ResponseSink} that publishes chunks, the end or the
 * error to the caller's reply subject, numbered, split to fit `max_payload`, coalesced into
 * `batch`es, and paced by the caller's acks. It answers in the framing the request came in.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { EndpointRegistry } from '../../actors/endpoint-registry.js';
import { BodyKind } from '../../core/body.js';
import { WardenError } from '../../core/errors.js';
import type { InflightRequest, ResponseSink, WireError } from '../../core/request-plane.js';
import { encodeWireError, HEADER_ROOM, MessageType } from './codec.js';
import {
  batchEntrySize,
  batchFrame,
  Code,
  chunkCode,
  type EncodedValue,
  encodeValue,
  frame,
  lastCode,
  prefersHeaders,
  valueBytes,
  valueFrame,
} from './compact.js';
import { messageHeaders } from './headers.js';

/** What a responder needs from its server. */
export interface ResponderHost {
  /** The server's endpoints (a responder counts its response bytes there). */
  readonly registry: EndpointRegistry;
  /** Largest chunk a handler may send (bytes, after encoding). */
  readonly maxMessageBytes: number;
  /** Response units a caller may have unacked before the handler is paused. */
  readonly streamWindow: number;
  /** The response has ended (either way): forget the request. */
  requestDone(responder: NatsResponder): void;
  /** Has `responder.flush()` called soon (see {@link FlushQueue}). */
  scheduleFlush(responder: NatsResponder): void;
  /** The responder is about to publish its control subject: control messages may come for it from now on. */
  exposeControl(responder: NatsResponder): void;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Chunks held at most before they are sent (as one `batch` in the compact framing). Held chunks go
 * out at the server's next flush anyway; this only bounds a producer that never yields to I/O.
 */
const MAX_HELD = 256;
/** Largest `batch` payload; bigger chunks travel on their own. Held bytes beyond it are sent at once. */
const BATCH_BYTES = 64 * 1024;

/**
 * Publishes one response. Chunks are held until the server's next flush (a `setImmediate`, or at
 * once when {@link BATCH} are held): in the compact framing the held chunks travel as one `batch`
 * message, in the header framing as one message each but in one socket write. The last chunk and
 * the end travel as one `last` message, so a unary call is one message each way.
 */
export class NatsResponder implements ResponseSink {
  /** Set by the server right after dispatch. */
  inflight: InflightRequest | undefined;
  /** True once `end` or `error` ran. */
  finished = false;
  /** In the host's flush queue. */
  scheduled = false;
  /** Its control subject went out (the host looks it up by key from then on). */
  exposed = false;
  /** Neighbours in the host's {@link ResponderList}. */
  prev: NatsResponder | undefined = undefined;
  next: NatsResponder | undefined = undefined;
  /** Units sent: the sequence number of the next message. */
  private seq = 0;
  private acked = 0;
  /** The first chunk held, and the ones after it (most responses hold one). */
  private held: EncodedValue | undefined;
  private more: EncodedValue[] | undefined;
  /** Bytes of the held chunks. */
  private heldBytes = 0;
  /** The caller went away: nothing more is published. */
  private silent = false;
  private waiter: (() => void) | undefined;
  private readonly maxPayload: number;
  /** `{controlBase}.{key}`, made when the first non-final message is sent. */
  private control: string | undefined;

  constructor(
    private readonly host: ResponderHost,
    /** The server's key of this request (the last token of its control subject). */
    readonly key: number,
    /** The caller's reply subject. */
    readonly reply: string,
    private readonly conn: NatsConnection,
    /** The server's control prefix; `{controlBase}.{key}` is sent as the reply subject of non-final messages. */
    private readonly controlBase: string,
    /** The request came in the compact framing: so does the response. */
    private readonly compact: boolean,
  ) {
    this.maxPayload = conn.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** `last`: `end()` follows at once (a unary result), so no flush needs scheduling. */
  chunk(value: unknown, last?: boolean): void | Promise<void> {
    if (this.finished) return;
    const encoded = encodeValue(value, 'response');
    if (encoded.size > this.host.maxMessageBytes) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk of ${encoded.size} bytes exceeds the server's maxMessageBytes (${this.host.maxMessageBytes}); send smaller chunks`,
      );
    }
    let held: number;
    if (this.held === undefined) {
      this.held = encoded;
      this.heldBytes = encoded.size;
      held = 1;
    } else {
      if (this.more === undefined) this.more = [encoded];
      else this.more.push(encoded);
      this.heldBytes += encoded.size;
      held = this.more.length + 1;
    }
    const window = this.host.streamWindow;
    // Half a window at most per batch: the next batch is on its way while the caller reads this one.
    if (held >= Math.min(MAX_HELD, window >> 1) || this.heldBytes >= BATCH_BYTES) this.sendHeld(false);
    else if (!this.scheduled && last !== true) {
      this.scheduled = true;
      this.host.scheduleFlush(this);
    }
    if (this.seq + this.heldCount() - this.acked >= window && !this.silent) {
      // The window is full: what is held goes now (the caller acks only what it received).
      this.sendHeld(false);
      return new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    try {
      if (this.held !== undefined) this.sendHeld(true);
      else this.publishFinal(MessageType.end, undefined);
    } catch {
      // The connection is gone; the caller learns it from its own connection.
    }
    this.done();
  }

  error(err: WireError): void {
    if (this.finished) return;
    this.finished = true;
    try {
      this.sendHeld(false);
      this.publishFinal(MessageType.error, encodeWireError(err));
    } catch {
      // As in end().
    }
    this.done();
  }

  /** The caller acked `count` response units. */
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

  /** Sends the held chunks (more may follow); the host's flush queue calls it. */
  flush(): void {
    this.scheduled = false;
    if (this.held === undefined || this.finished) return;
    try {
      this.sendHeld(false);
    } catch {
      this.callerGone();
    }
  }

  private heldCount(): number {
    return this.held === undefined ? 0 : this.more === undefined ? 1 : this.more.length + 1;
  }

  /**
   * Sends the held chunks; with `final`, the response ends with them (a lone chunk as `last`).
   * The compact framing coalesces runs of small chunks into `batch` messages.
   */
  private sendHeld(final: boolean): void {
    const first = this.held;
    if (first === undefined) return;
    const more = this.more;
    this.held = undefined;
    this.more = undefined;
    if (more === undefined) {
      this.sendChunk(first, final);
      return;
    }
    if (!this.compact) {
      this.sendChunk(first, false);
      for (let i = 0; i < more.length; i++)
        this.sendChunk(more[i] as EncodedValue, final && i === more.length - 1);
      return;
    }
    const limit = Math.min(BATCH_BYTES, this.maxPayload - HEADER_ROOM);
    // Runs of small chunks become batches; a big or large raw chunk goes on its own.
    let run: EncodedValue[] = [];
    let runBytes = 0;
    for (let i = -1; i < more.length; i++) {
      const value = i < 0 ? first : (more[i] as EncodedValue);
      const size = batchEntrySize(value);
      const alone = size > limit || prefersHeaders(value);
      if (run.length > 0 && (alone || runBytes + size > limit)) {
        this.sendRun(run, runBytes);
        run = [];
        runBytes = 0;
      }
      if (alone) this.sendChunk(value, false);
      else {
        run.push(value);
        runBytes += size;
      }
    }
    if (run.length > 0) this.sendRun(run, runBytes);
    if (final) this.publishFinal(MessageType.end, undefined);
  }

  /** A run of one chunk goes as `chunk`, a longer one as `batch`. */
  private sendRun(run: EncodedValue[], bytes: number): void {
    if (run.length === 1) this.sendChunk(run[0] as EncodedValue, false);
    else this.sendBatch(run, bytes);
  }

  private sendBatch(values: EncodedValue[], bytes: number): void {
    if (this.silent) return;
    this.checkOpen();
    const seq = this.seq;
    this.seq += values.length;
    this.conn.publish(this.reply, batchFrame(seq, values, bytes), { reply: this.controlSubject() });
    for (const v of values) this.count(v.size);
  }

  /**
   * Sends one chunk (as `last` when `final`). One that does not fit `max_payload` is split into
   * `part`s; those, and large raw chunks, travel in the header framing (no copy of the bytes).
   */
  private sendChunk(value: EncodedValue, final: boolean): void {
    if (this.silent) return;
    this.checkOpen();
    const room = this.maxPayload - HEADER_ROOM;
    if (value.size <= room) {
      this.publishChunk(value, final);
    } else {
      const bytes = valueBytes(value);
      for (let at = 0; at < bytes.length; at += room) {
        const end = Math.min(at + room, bytes.length);
        const last = end === bytes.length;
        const type = !last ? MessageType.part : final ? MessageType.last : MessageType.chunk;
        this.publishHeaders(type, bytes.subarray(at, end), value.kind);
      }
    }
    this.count(value.size);
  }

  private publishChunk(value: EncodedValue, final: boolean): void {
    if (!this.compact || prefersHeaders(value)) {
      this.publishHeaders(final ? MessageType.last : MessageType.chunk, valueBytes(value), value.kind);
      return;
    }
    const seq = this.seq++;
    const data = valueFrame(final ? lastCode(value.kind) : chunkCode(value.kind), seq, value);
    if (final) this.conn.publish(this.reply, data);
    else this.conn.publish(this.reply, data, { reply: this.controlSubject() });
  }

  /**
   * One message in the header framing. Non-final messages carry the control subject: the caller
   * sends cancel and acks there, and NATS answers there with a 503 status when the caller's reply
   * subject has no subscriber any more.
   */
  private publishHeaders(type: MessageType, data: Uint8Array, kind: BodyKind): void {
    const headers = messageHeaders(type, this.seq++, kind);
    if (type === MessageType.last) this.conn.publish(this.reply, data, { headers });
    else this.conn.publish(this.reply, data, { headers, reply: this.controlSubject() });
  }

  /** Publishes an `end` or `error` message. */
  private publishFinal(
    type: typeof MessageType.end | typeof MessageType.error,
    body: Uint8Array | undefined,
  ): void {
    if (this.silent) return;
    this.checkOpen();
    const seq = this.seq++;
    if (this.compact) {
      this.conn.publish(this.reply, frame(type === MessageType.end ? Code.end : Code.error, seq, body));
    } else {
      this.conn.publish(this.reply, body, { headers: messageHeaders(type, seq, BodyKind.json) });
    }
  }

  private checkOpen(): void {
    if (this.conn.isClosed()) {
      throw new WardenError(
        'WARDEN_CONNECTION_CLOSED',
        'The NATS connection closed; the response cannot be delivered',
      );
    }
  }

  private controlSubject(): string {
    if (this.control === undefined) {
      this.control = `${this.controlBase}.${this.key}`;
      this.exposed = true;
      this.host.exposeControl(this);
    }
    return this.control;
  }

  private count(bytes: number): void {
    const registry = this.host.registry;
    if (registry.countsBytes && !this.silent) registry.sent(this.inflight, bytes);
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
