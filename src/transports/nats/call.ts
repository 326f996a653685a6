/**
 * The client side of one NATS call: the driver its {@link ResponseStream} pulls on, and the reader
 * of its response messages (sequence check, `part`s joined, acks, the end or the error).
 */
import type { Msg } from '@nats-io/transport-node';
import type { CallDriver, ResponseStream } from '../../actors/response-stream.js';
import { type BodyKind, decodeBody, BodyKind as Kind } from '../../core/body.js';
import { messageOf, WardenError } from '../../core/errors.js';
import type { WireError } from '../../core/request-plane.js';
import { ACK_EVERY, decodeWireError, joinParts, MessageType } from './codec.js';
import { readResponseMeta } from './headers.js';

/** What a call needs from its client. */
export interface CallHost {
  /** Largest chunk accepted after joining its parts. */
  readonly maxMessageBytes: number;
  /** The caller went away: forget the call and tell the server. */
  cancelCall(call: NatsCall): void;
  /** Ack the response messages received so far. */
  sendAck(call: NatsCall): void;
  /** The response ended: forget the call. */
  forget(call: NatsCall): void;
}

/** One call in flight. */
export class NatsCall implements CallDriver {
  /** The next response sequence number expected (= response messages received). */
  seq = 0;
  /** Response messages acked so far. */
  acked = 0;
  /** The server's control subject for this request, once a response carried it. */
  control: string | undefined;
  /** `{inbox}.{id}`, set when the request is published. */
  reply = '';
  private paused = false;
  private parts: Uint8Array[] | undefined;
  private partBytes = 0;

  constructor(
    private readonly host: CallHost,
    /** The correlation id: the last token of the reply subject. */
    readonly id: string,
    readonly stream: ResponseStream,
    private readonly publishRequest: (call: NatsCall) => void,
  ) {}

  send(): void {
    this.publishRequest(this);
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
    const meta = readResponseMeta(msg);
    if (meta.status !== 0) {
      this.host.forget(this);
      this.stream.error(
        meta.status === 503
          ? new WardenError(
              'WARDEN_NO_RESPONDERS',
              'No server serves this endpoint on NATS: nothing is subscribed to its subject (the endpoint or instance is not registered, or its server is not connected)',
            )
          : new WardenError('WARDEN_PROTOCOL_ERROR', `NATS answered with status ${meta.status}`),
      );
      return;
    }
    if (meta.seq !== this.seq) {
      this.fail(
        new WardenError(
          'WARDEN_PROTOCOL_ERROR',
          Number.isNaN(meta.seq)
            ? 'A response message without warden headers arrived; the subject is not served by a warden server'
            : `A response message was lost or reordered (expected #${this.seq}, got #${meta.seq})`,
        ),
      );
      return;
    }
    this.seq++;
    if (msg.reply) this.control = msg.reply;
    try {
      switch (meta.type) {
        case MessageType.part:
          this.addPart(msg.data);
          return;
        case MessageType.chunk:
          this.stream.push(this.chunkOf(msg.data, meta.kind));
          if (!this.paused && this.seq - this.acked >= ACK_EVERY) this.host.sendAck(this);
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
    } catch (err) {
      this.fail(err instanceof WardenError ? err : new WardenError('WARDEN_PROTOCOL_ERROR', messageOf(err)));
    }
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

  private chunkOf(data: Uint8Array, kind: BodyKind): unknown {
    let bytes = data;
    if (this.parts) {
      this.addPart(bytes);
      bytes = joinParts(this.parts, this.partBytes);
      this.parts = undefined;
      this.partBytes = 0;
    } else if (kind === Kind.raw) {
      // Raw bytes are copied: the view would pin the whole socket read buffer.
      bytes = bytes.slice();
    }
    return decodeBody(kind, bytes);
  }
}
