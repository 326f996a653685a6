/**
 * The client side of one NATS call: the driver its sink pulls on, and the reader of its response
 * messages in either framing (sequence check, `part`s joined, `batch`es split, acks, the end or
 * the error).
 */
import type { Msg } from '@nats-io/transport-node';
import type { CallDriver } from '../../actors/response-stream.js';
import { type BodyKind, decodeBody, BodyKind as Kind } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { CallOptions, CallTarget, WireError } from '../../core/request-plane.js';
import type { TableEntry } from './call-table.js';
import { ACK_EVERY, copyOf, decodeWireError, joinParts, MessageType } from './codec.js';
import { Code, cursor, readVarint } from './compact.js';
import { headerBytes, readResponseMeta } from './headers.js';

/** What a call needs from its client. */
export interface CallHost {
  /** Publishes the request of `call`; throws a `WardenError` when it cannot. */
  startCall(call: NatsCall, target: CallTarget, body: unknown, headers: CallOptions['headers']): void;
  /** Largest chunk accepted after joining its parts. */
  readonly maxMessageBytes: number;
  /** The caller went away: forget the call and tell the server. */
  cancelCall(call: NatsCall): void;
  /** Ack the response messages received so far. */
  sendAck(call: NatsCall): void;
  /** The response ended: forget the call. */
  forget(call: NatsCall): void;
}

/**
 * Where a call delivers its response: a `ResponseStream` for `call()`, a {@link UnaryResult} for
 * `request()`. Both end once; later calls are ignored.
 */
export interface CallSink {
  /** True once the response ended (either way). */
  readonly done: boolean;
  /** Epoch ms deadline, or undefined. */
  readonly deadline: number | undefined;
  push(chunk: unknown): void;
  end(): void;
  error(err: WireError | WardenError): void;
}

/** First bytes of the compact response messages. */
const RESPONSE_CODES = new Set<number>([
  Code.chunk,
  Code.chunkRaw,
  Code.last,
  Code.lastRaw,
  Code.end,
  Code.error,
  Code.batch,
]);

const NO_RESPONDERS =
  'No server serves this endpoint on NATS: nothing is subscribed to its subject (the endpoint or instance is not registered, or its server is not connected)';

/** One call in flight. */
export class NatsCall implements CallDriver, TableEntry {
  /** Units of the response received: the sequence number the next message must carry. */
  seq = 0;
  /** Units acked so far. */
  acked = 0;
  /** The server's control subject for this request, once a response carried it. */
  control: string | undefined;
  /** `{inbox}.{token}`, set when the request is published. */
  reply = '';
  /** Its slot in the client's call table; -1 while not there. */
  slot = -1;
  private paused = false;
  private parts: Uint8Array[] | undefined;
  private partBytes = 0;
  /** What to send; dropped once sent. */
  private body: unknown;

  constructor(
    private readonly host: CallHost,
    /** Unique within the client; the reply subject's last token carries it. */
    readonly id: number,
    readonly stream: CallSink,
    private readonly target: CallTarget,
    body: unknown,
    private readonly headers: CallOptions['headers'],
  ) {
    this.body = body;
  }

  send(): void {
    const body = this.body;
    this.body = undefined;
    this.host.startCall(this, this.target, body, this.headers);
  }

  cancel(_reason: WireError): void {
    this.host.cancelCall(this);
  }

  pause(paused: boolean): void {
    this.paused = paused;
    if (!paused) this.host.sendAck(this);
  }

  /** Reads one message that arrived on the call's reply subject. */
  receive(msg: Msg): void {
    try {
      if (headerBytes(msg) > 0) this.receiveHeaders(msg);
      else this.receiveCompact(msg, msg.data);
    } catch (err) {
      this.fail(err instanceof WardenError ? err : new WardenError('WARDEN_PROTOCOL_ERROR', messageOf(err)));
    }
  }

  /** A compact message: type letter, varint sequence number, body. */
  private receiveCompact(msg: Msg, data: Uint8Array): void {
    const code = data[0];
    if (code === undefined || data.length < 2 || !RESPONSE_CODES.has(code)) {
      throw new WardenError(
        'WARDEN_PROTOCOL_ERROR',
        'A response message without warden framing arrived; the subject is not served by a warden server',
      );
    }
    let seq: number;
    let at: number;
    const b1 = data[1] as number;
    if (b1 < 0x80) {
      seq = b1;
      at = 2;
    } else {
      readVarint(data, 1);
      seq = cursor.value;
      at = cursor.at;
    }
    this.checkSeq(seq);
    switch (code) {
      case Code.last:
      case Code.lastRaw:
        this.seq++;
        this.host.forget(this);
        this.stream.push(this.chunkAt(data, at, code === Code.lastRaw));
        this.stream.end();
        return;
      case Code.chunk:
      case Code.chunkRaw:
        this.seq++;
        this.control ??= msg.reply || undefined;
        this.stream.push(this.chunkAt(data, at, code === Code.chunkRaw));
        this.maybeAck();
        return;
      case Code.batch: {
        this.control ??= msg.reply || undefined;
        // A batch may fill the reader's queue at once; whether the reader keeps up is what it was
        // doing when the batch came, so the ack is not held back until it has read the batch.
        const keepingUp = !this.paused;
        this.readBatch(data, at);
        if (keepingUp && this.seq - this.acked >= ACK_EVERY) this.host.sendAck(this);
        return;
      }
      case Code.end:
        this.seq++;
        this.host.forget(this);
        this.stream.end();
        return;
      case Code.error:
        this.seq++;
        this.host.forget(this);
        this.stream.error(decodeWireError(data.subarray(at)));
        return;
    }
  }

  /** A `batch`: per chunk a varint (length × 2 + raw) and its bytes; each chunk is one unit. */
  private readBatch(data: Uint8Array, at: number): void {
    if (this.parts) throw new WardenError('WARDEN_PROTOCOL_ERROR', 'A batch arrived inside a split chunk');
    while (at < data.length) {
      readVarint(data, at);
      const n = Math.floor(cursor.value / 2);
      const raw = cursor.value % 2 === 1;
      const start = cursor.at;
      at = start + n;
      if (at > data.length) throw new WardenError('WARDEN_PROTOCOL_ERROR', 'A batch message is cut short');
      this.seq++;
      // Read in place: no view per chunk; raw bytes are copied (see chunkOf).
      this.stream.push(raw ? copyOf(data, start, at) : parseJson(data, start, at));
      if (this.stream.done) return;
    }
  }

  /** A message in the header framing (a foreign server), or a NATS status such as 503. */
  private receiveHeaders(msg: Msg): void {
    const meta = readResponseMeta(msg);
    if (meta.status !== 0) {
      this.host.forget(this);
      this.stream.error(
        meta.status === 503
          ? new WardenError('WARDEN_NO_RESPONDERS', NO_RESPONDERS)
          : new WardenError('WARDEN_PROTOCOL_ERROR', `NATS answered with status ${meta.status}`),
      );
      return;
    }
    if (Number.isNaN(meta.seq)) {
      throw new WardenError(
        'WARDEN_PROTOCOL_ERROR',
        'A response message without warden framing arrived; the subject is not served by a warden server',
      );
    }
    this.checkSeq(meta.seq);
    this.seq++;
    if (msg.reply) this.control = msg.reply;
    switch (meta.type) {
      case MessageType.part:
        this.addPart(msg.data);
        return;
      case MessageType.chunk:
        this.stream.push(this.chunkOf(msg.data, meta.kind));
        this.maybeAck();
        return;
      case MessageType.last:
        this.host.forget(this);
        this.stream.push(this.chunkOf(msg.data, meta.kind));
        this.stream.end();
        return;
      case MessageType.end:
        this.host.forget(this);
        this.stream.end();
        return;
      case MessageType.error:
        this.host.forget(this);
        this.stream.error(decodeWireError(msg.data));
        return;
      default:
        throw new WardenError('WARDEN_PROTOCOL_ERROR', `Unknown response message type '${meta.type}'`);
    }
  }

  private checkSeq(seq: number): void {
    if (seq !== this.seq) {
      throw new WardenError(
        'WARDEN_PROTOCOL_ERROR',
        `A response message was lost or reordered (expected #${this.seq}, got #${seq})`,
      );
    }
  }

  private maybeAck(): void {
    if (!this.paused && this.seq - this.acked >= ACK_EVERY) this.host.sendAck(this);
  }

  /** Ends the call with a local error and tells the server to stop. */
  private fail(err: WardenError): void {
    this.host.cancelCall(this);
    this.stream.error(err);
  }

  private addPart(data: Uint8Array): void {
    this.partBytes += data.length;
    if (this.partBytes > this.host.maxMessageBytes) {
      throw new WardenError(
        'WARDEN_MESSAGE_TOO_LARGE',
        `A response chunk exceeds the client's maxMessageBytes (${this.host.maxMessageBytes})`,
      );
    }
    if (this.parts) this.parts.push(data);
    else this.parts = [data];
  }

  /** The chunk that is the rest of `data` from `at` (compact framing), read in place. */
  private chunkAt(data: Uint8Array, at: number, raw: boolean): unknown {
    if (this.parts) return this.chunkOf(data.subarray(at), raw ? Kind.raw : Kind.json);
    return raw ? copyOf(data, at, data.length) : parseJson(data, at, data.length);
  }

  private chunkOf(data: Uint8Array, kind: BodyKind): unknown {
    let bytes = data;
    if (this.parts) {
      this.addPart(bytes);
      bytes = joinParts(this.parts, this.partBytes);
      this.parts = undefined;
      this.partBytes = 0;
    } else if (kind === Kind.raw) {
      return copyOf(bytes, 0, bytes.length);
    }
    return decodeBody(kind, bytes);
  }
}

const utf8 = new TextDecoder();

/** `data[start…end]` as JSON (empty = `null`), read in place; bad JSON is `WARDEN_PROTOCOL_ERROR`. */
function parseJson(data: Uint8Array, start: number, end: number): unknown {
  if (start === end) return null;
  const text = Buffer.isBuffer(data)
    ? data.toString('utf8', start, end)
    : utf8.decode(data.subarray(start, end));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WardenError('WARDEN_PROTOCOL_ERROR', 'The body is not valid JSON', { cause: err });
  }
}
