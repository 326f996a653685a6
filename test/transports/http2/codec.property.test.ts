import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWardenError } from '../../../src/core/errors.js';
import {
  END_FRAME,
  encodeChunk,
  encodeErrorFrame,
  encodeFrame,
  FrameDecoder,
  FrameKind,
  parseEndpointUrlPath,
  parseJsonPayload,
  percentDecode,
  percentEncode,
  rawView,
} from '../../../src/transports/http2/codec.js';

/** Splits `bytes` at the given cut points (each taken modulo the length). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const chunk = fc.oneof(fc.jsonValue(), fc.uint8Array({ maxLength: 300 }));

describe('http2 framed stream codec', () => {
  it('decodes any sequence of chunks, however the bytes are split, to the same chunks', () => {
    fc.assert(
      fc.property(
        fc.array(chunk, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (chunks, cuts) => {
          const wire = Buffer.concat([...chunks.map((c) => encodeFrame(encodeChunk(c))), END_FRAME]);
          const decoder = new FrameDecoder(1 << 20);
          const got: unknown[] = [];
          let ended = false;
          for (const piece of split(wire, cuts)) {
            decoder.push(piece, {
              frame(kind, payload) {
                if (kind === FrameKind.json) got.push(parseJsonPayload(payload));
                else if (kind === FrameKind.raw) got.push(rawView(payload));
                else if (kind === FrameKind.end) ended = true;
              },
            });
          }
          expect(ended).toBe(true);
          expect(decoder.partial).toBe(false);
          // JSON turns -0 into 0; compare through the same lens.
          expect(got).toEqual(
            chunks.map((c) => (c instanceof Uint8Array ? c : JSON.parse(JSON.stringify(c)))),
          );
        },
      ),
    );
  });

  it('appends a tail frame in the same buffer', () => {
    const buf = encodeFrame(encodeChunk({ a: 1 }), END_FRAME);
    expect([...buf.subarray(0, 5)]).toEqual([0, 0, 0, 0, 7]);
    expect(buf.subarray(5, 12).toString()).toBe('{"a":1}');
    expect([...buf.subarray(12)]).toEqual([2, 0, 0, 0, 0]);
  });

  it('encodes an error frame as kind 3 with { code, message }', () => {
    const buf = encodeErrorFrame({ code: 'WARDEN_CANCELLED', message: 'gone' });
    expect(buf[0]).toBe(FrameKind.error);
    expect(JSON.parse(buf.subarray(5).toString())).toEqual({ code: 'WARDEN_CANCELLED', message: 'gone' });
    expect(buf.readUInt32BE(1)).toBe(buf.length - 5);
  });

  it('refuses a frame longer than the limit as soon as its header arrives', () => {
    const decoder = new FrameDecoder(10);
    const header = Buffer.from([0, 0, 0, 0, 11]);
    let thrown: unknown;
    try {
      decoder.push(header.subarray(0, 3), { frame() {} });
      decoder.push(header.subarray(3), { frame() {} });
    } catch (err) {
      thrown = err;
    }
    expect(isWardenError(thrown, 'WARDEN_MESSAGE_TOO_LARGE')).toBe(true);
  });
});

describe('http2 header helpers', () => {
  it('percent-encoding round-trips any message and leaves only visible ASCII', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const encoded = percentEncode(text);
        expect(encoded).toMatch(/^[\x20-\x7e]*$/);
        expect(percentDecode(encoded)).toBe(text);
      }),
    );
    expect(percentEncode('100% done\n')).toBe('100%25 done%0A');
  });

  it('parses endpoint paths', () => {
    expect(parseEndpointUrlPath('/v1/a/b/c')).toEqual(['a', 'b', 'c']);
    expect(parseEndpointUrlPath('/v1/a/b/c?x=1')).toEqual(['a', 'b', 'c']);
    for (const bad of [undefined, '/', '/v1/a/b', '/v1/a/b/c/d', '/v1/a//c', '/v2/a/b/c']) {
      expect(parseEndpointUrlPath(bad)).toBeUndefined();
    }
  });
});
