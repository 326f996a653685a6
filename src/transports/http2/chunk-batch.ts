/**
 * The small chunks of a streamed HTTP/2 response, encoded in place into one buffer as frames of
 * `application/vnd.warden.stream` or as NDJSON lines, so that a turn of the event loop's chunks
 * leave in one stream write instead of one buffer and one write each.
 */
import { FRAME_HEADER_BYTES, FrameKind } from './codec.js';

/** Bytes of one batch buffer: its chunks leave in one write (the HTTP/2 stream's high-water mark). */
export const BATCH_BYTES = 16 * 1024;

/**
 * Bytes `start … end` of `buffer` are encoded and not yet taken; bytes before `start` were taken
 * (the stream holds them, so they are never overwritten); what follows `end` is free.
 */
export class ChunkBatch {
  private buffer: Buffer | undefined = undefined;
  private start = 0;
  private end = 0;

  /** Bytes encoded and not yet taken. */
  get length(): number {
    return this.end - this.start;
  }

  /** True when `bytes` more fit in the current buffer. */
  fits(bytes: number): boolean {
    return this.buffer !== undefined && this.buffer.length - this.end >= bytes;
  }

  /** Starts a new buffer; returns what the old one still held, to be written first. */
  renew(): Buffer | undefined {
    const rest = this.take();
    this.buffer = Buffer.allocUnsafe(BATCH_BYTES);
    this.start = 0;
    this.end = 0;
    return rest;
  }

  /** Encodes a chunk as a frame (`framed`) or an NDJSON line; call {@link fits} first. */
  append(payload: string | Uint8Array, framed: boolean): void {
    const buf = this.buffer as Buffer;
    let at = this.end;
    if (!framed) {
      at += buf.write(payload as string, at, 'utf8');
      buf[at++] = 0x0a; // '\n'
    } else if (typeof payload === 'string') {
      const n = buf.write(payload, at + FRAME_HEADER_BYTES, 'utf8');
      buf[at] = FrameKind.json;
      buf.writeUInt32BE(n, at + 1);
      at += FRAME_HEADER_BYTES + n;
    } else {
      buf[at] = FrameKind.raw;
      buf.writeUInt32BE(payload.length, at + 1);
      buf.set(payload, at + FRAME_HEADER_BYTES);
      at += FRAME_HEADER_BYTES + payload.length;
    }
    this.end = at;
  }

  /** Appends `bytes` when the batch holds something and they fit; false otherwise. */
  tryAppendBytes(bytes: Buffer): boolean {
    if (this.length === 0 || !this.fits(bytes.length)) return false;
    (this.buffer as Buffer).set(bytes, this.end);
    this.end += bytes.length;
    return true;
  }

  /** What is encoded and not yet taken, as a view (no copy); undefined when nothing is. */
  take(): Buffer | undefined {
    if (this.end === this.start) return undefined;
    const out = (this.buffer as Buffer).subarray(this.start, this.end);
    this.start = this.end;
    return out;
  }
}
