import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WardenError } from '../../../src/core/errors.js';
import {
  encodeChunk,
  encodeEnd,
  encodeError,
  encodeFrame,
  encodeHello,
  encodeJsonChunk,
  encodePing,
  encodeRequest,
  encodeRequestHead,
  encodeWindow,
  type Frame,
  FrameType,
  HEADER_BYTES,
  type RequestFrame,
  RouteBytes,
} from '../../../src/transports/tcp/codec.js';
import { FrameDecoder } from '../../../src/transports/tcp/decoder.js';

interface Decoded {
  frames: Frame[];
  oversized: Array<{ type: number; streamId: number; length: number }>;
  error: WardenError | undefined;
}

function decoder(maxFrameBytes?: number): { d: FrameDecoder; out: Decoded } {
  const out: Decoded = { frames: [], oversized: [], error: undefined };
  const d = new FrameDecoder(
    {
      frame: (f) => out.frames.push(f),
      oversized: (type, streamId, length) => out.oversized.push({ type, streamId, length }),
    },
    maxFrameBytes === undefined ? {} : { maxFrameBytes },
  );
  return { d, out };
}

function decodeAll(bytes: Uint8Array, splits: number[] = [], maxFrameBytes?: number): Decoded {
  const { d, out } = decoder(maxFrameBytes);
  const cuts = [...new Set(splits.map((s) => s % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.error ??= d.push(bytes.subarray(prev, cut));
    prev = cut;
  }
  return out;
}

/** Frames as plain data (bodies as hex) so decoded and original frames compare with toEqual. */
function plain(f: Frame): Record<string, unknown> {
  const o: Record<string, unknown> = { ...f };
  if ('body' in f) o.body = Buffer.from(f.body).toString('hex');
  if ('data' in f) o.data = Buffer.from(f.data).toString('hex');
  if ('headers' in f) o.headers = { ...f.headers };
  return o;
}

const request = (over: Partial<RequestFrame> = {}): RequestFrame => ({
  type: FrameType.REQUEST,
  streamId: 7,
  deadline: 1_800_000_000_123,
  window: 262_144,
  namespace: 'ns',
  component: 'comp',
  endpoint: 'echo',
  instanceId: '0123456789abcdef',
  requestId: 'req-1',
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  bodyKind: 0,
  body: Buffer.from('{"a":1}'),
  ...over,
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('tcp codec: byte layout', () => {
  it('writes the documented header: u32 length, u8 type, u8 flags, u32 stream id', () => {
    expect(encodeEnd(5).toString('hex')).toBe('00000006' + '04' + '00' + '00000005');
    expect(encodeWindow(9, 65_536).toString('hex')).toBe('0000000a' + '09' + '00' + '00000009' + '00010000');
    expect(encodeChunk(3, 1, Buffer.from([0xaa, 0xbb]), true).toString('hex')).toBe(
      '00000009' + '03' + '01' + '00000003' + '01' + 'aabb',
    );
    expect(encodeHello(16 * 1024 * 1024, 'ab').toString('hex')).toBe(
      '0000000f' + '01' + '00' + '00000000' + '01' + '01000000' + '0002' + '6162',
    );
  });

  it('lays out a REQUEST as documented', () => {
    const f = encodeRequest(
      1,
      {
        deadline: 0x1_0000_0002,
        window: 0xffff_ffff,
        namespace: 'a',
        component: 'b',
        endpoint: 'c',
        instanceId: '',
        requestId: 'r',
        headers: { 'X-Up': 'v' },
      },
      1,
      Buffer.from([0xee]),
    );
    expect(f.toString('hex')).toBe(
      [
        '0000002d', // length 45 = 6 + 39 payload bytes
        '02', // REQUEST
        '00', // flags
        '00000001', // stream 1
        '00000001', // deadline hi
        '00000002', // deadline lo
        'ffffffff', // window
        '01', // body kind raw
        '0001', // one header
        '000161', // "a"
        '000162', // "b"
        '000163', // "c"
        '0000', // instance: any
        '000172', // "r"
        '0004782d7570', // "x-up" (lower-cased)
        '000176', // "v"
        'ee', // body
      ].join(''),
    );
  });

  it('writes ERROR as {code,message} JSON and JSON chunks without an intermediate copy', () => {
    const e = encodeError(0, 'WARDEN_PROTOCOL_ERROR', 'bad');
    expect(e.subarray(HEADER_BYTES).toString()).toBe('{"code":"WARDEN_PROTOCOL_ERROR","message":"bad"}');
    const c = encodeJsonChunk(2, '{"x":"é"}');
    expect(decodeAll(c).frames).toEqual([
      { type: FrameType.CHUNK, streamId: 2, last: false, bodyKind: 0, body: Buffer.from('{"x":"é"}') },
    ]);
  });
});

describe('tcp codec: decoder', () => {
  it('decodes every frame type back to what was encoded', () => {
    const frames: Frame[] = [
      { type: FrameType.HELLO, streamId: 0, version: 1, maxFrameBytes: 1024, token: 's3cr3t' },
      request(),
      request({ streamId: 8, headers: {}, instanceId: '', deadline: 0, bodyKind: 1, body: Buffer.alloc(0) }),
      { type: FrameType.CHUNK, streamId: 7, last: true, bodyKind: 1, body: Buffer.from([1, 2, 3]) },
      { type: FrameType.END, streamId: 7 },
      { type: FrameType.CANCEL, streamId: 8 },
      { type: FrameType.ERROR, streamId: 0, code: 'WARDEN_OVERLOADED', message: 'busy' },
      { type: FrameType.PING, streamId: 0, data: Buffer.from('12345678') },
      { type: FrameType.PONG, streamId: 0, data: Buffer.from('87654321') },
      { type: FrameType.WINDOW, streamId: 7, increment: 0x7fff_ffff },
    ];
    const bytes = Buffer.concat(frames.map(encodeFrame));
    const out = decodeAll(bytes);
    expect(out.error).toBeUndefined();
    expect(out.frames.map(plain)).toEqual(frames.map(plain));
  });

  it('handles a frame split into single bytes and many frames in one read', () => {
    const frames = [request(), { type: FrameType.END, streamId: 7 } as Frame, request({ streamId: 9 })];
    const bytes = Buffer.concat(frames.map(encodeFrame));
    const bytewise = decodeAll(
      bytes,
      Array.from({ length: bytes.length }, (_, i) => i),
    );
    expect(bytewise.frames.map(plain)).toEqual(frames.map(plain));
    expect(decodeAll(bytes).frames).toHaveLength(3);
  });

  it('hands out payloads as views into the bytes it was fed, not copies', () => {
    const bytes = Buffer.concat([
      encodeChunk(1, 1, Buffer.from('hello')),
      encodeRequest(3, request(), 1, Buffer.from('x')),
    ]);
    const frames = decodeAll(bytes).frames as Array<{ body: Uint8Array }>;
    expect(frames[0]?.body.buffer).toBe(bytes.buffer);
    expect(frames[1]?.body.buffer).toBe(bytes.buffer);
  });

  it('allocates one buffer of exactly the frame size for a frame split across reads', () => {
    const body = Buffer.alloc(100_000, 7);
    const bytes = encodeChunk(1, 1, body);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    const out = decodeAll(bytes, [5, 20_000, 40_000, 99_000]);
    expect(out.frames).toHaveLength(1);
    expect(spy.mock.calls.map((c) => c[0])).toEqual([bytes.length]);
  });

  it('rejects a frame declaring 4 GiB before buffering anything', () => {
    const header = Buffer.from('ffffffff' + '02' + '00' + '00000001', 'hex');
    const input = Buffer.concat([header, Buffer.alloc(1000)]);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    const out = decodeAll(input);
    expect(out.error?.code).toBe('WARDEN_PROTOCOL_ERROR');
    expect(out.error?.message).toMatch(/reserved high bit/);
    expect(spy).not.toHaveBeenCalled();
  });

  it('rejects over-limit frames of fixed-size types, and skips over-limit REQUEST/CHUNK frames without buffering', () => {
    const limit = 2048;
    const big = encodeRequest(5, request(), 1, Buffer.alloc(5000, 1));
    const input = Buffer.concat([big, encodeEnd(5)]);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    const out = decodeAll(input, [100, 3000, 4000], limit);
    expect(out.error).toBeUndefined();
    expect(out.oversized).toEqual([{ type: FrameType.REQUEST, streamId: 5, length: big.length - 4 }]);
    expect(out.frames).toEqual([{ type: FrameType.END, streamId: 5 }]);
    expect(spy).not.toHaveBeenCalled();

    const hello = encodeHello(1024, 'x'.repeat(3000));
    expect(decodeAll(hello, [], limit).error?.message).toMatch(/larger than the limit of 2048/);
  });

  it.each([
    ['an unknown frame type', '00000006' + '42' + '00' + '00000001', /Unknown frame type 66/],
    ['a length shorter than a header', '00000005' + '04' + '00' + '00000001', /shorter than a frame header/],
    ['HELLO off stream 0', '0000000d' + '01' + '00' + '00000001' + '01000004000000', /must be on stream 0/],
    ['REQUEST on stream 0', '00000006' + '02' + '00' + '00000000', /must not be on stream 0/],
    ['undefined flags', '00000006' + '04' + '80' + '00000001', /undefined flags/],
    ['END with a payload', '00000007' + '04' + '00' + '00000001' + '00', /must be 6/],
    ['WINDOW of 0', '0000000a' + '09' + '00' + '00000001' + '00000000', /WINDOW increment 0/],
    [
      'HELLO announcing a tiny limit',
      '0000000d' + '01' + '00' + '00000000' + '01000000100000',
      /maxFrameBytes 16/,
    ],
    ['a CHUNK with an unknown body kind', '00000008' + '03' + '00' + '00000001' + '07' + '00', /body kind 7/],
    ['an ERROR that is not JSON', '00000008' + '05' + '00' + '00000001' + '7b7b', /not valid JSON/],
    ['an ERROR without code', '00000008' + '05' + '00' + '00000001' + '7b7d', /"code": string/],
    [
      'a REQUEST whose string runs past the end',
      '00000018' +
        '02' +
        '00' +
        '00000001' +
        '00000000' +
        '00000000' +
        '00000000' +
        '00' +
        '0000' +
        '0009' +
        '61',
      /Truncated frame: namespace/,
    ],
    [
      'a deadline beyond 2^53',
      '00000018' +
        '02' +
        '00' +
        '00000001' +
        '00200000' +
        '00000000' +
        '00000000' +
        '00' +
        '0000' +
        '0000' +
        '00',
      /deadline/,
    ],
  ])('returns a protocol error for %s, then stays failed', (_name, hex, message) => {
    const { d } = decoder();
    const err = d.push(Buffer.from(hex, 'hex'));
    expect(err).toBeInstanceOf(WardenError);
    expect(err?.code).toBe('WARDEN_PROTOCOL_ERROR');
    expect(err?.message).toMatch(message);
    expect(d.push(encodeEnd(1))).toBe(err);
    expect(d.error).toBe(err);
  });

  it('knows when it is in the middle of a frame', () => {
    const { d } = decoder();
    const bytes = encodeChunk(1, 0, Buffer.from('[1,2,3]'));
    expect(d.midFrame).toBe(false);
    d.push(bytes.subarray(0, 4));
    expect(d.midFrame).toBe(true);
    d.push(bytes.subarray(4, 12));
    expect(d.midFrame).toBe(true);
    d.push(bytes.subarray(12));
    expect(d.midFrame).toBe(false);
  });

  it('keeps a header named __proto__ as an ordinary header', () => {
    const f = request({ headers: { ['__proto__']: 'x', a: 'b' } as Record<string, string> });
    const headers = (decodeAll(encodeFrame(f)).frames[0] as RequestFrame).headers;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.keys(headers).sort()).toEqual(['__proto__', 'a']);
  });

  it('refuses to encode strings longer than 65535 bytes', () => {
    expect(() =>
      encodeRequest(1, { ...request(), requestId: 'r'.repeat(70_000) }, 0, Buffer.alloc(0)),
    ).toThrow(/request id is longer than 65535 bytes/);
    expect(() => encodePing(Buffer.alloc(4))).toThrow(RangeError);
  });
});

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const streamId = fc.integer({ min: 1, max: 0xffff_ffff });
const bodyKind = fc.constantFrom(0 as const, 1 as const);
const bytes = fc.uint8Array({ maxLength: 64 });

const arbFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant(FrameType.HELLO),
    streamId: fc.constant(0 as const),
    version: fc.integer({ min: 0, max: 255 }),
    maxFrameBytes: fc.integer({ min: 1024, max: 0x7fff_ffff }),
    token: text,
  }),
  fc.record({
    type: fc.constant(FrameType.REQUEST),
    streamId,
    deadline: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    window: fc.integer({ min: 0, max: 0xffff_ffff }),
    namespace: text,
    component: text,
    endpoint: text,
    instanceId: text,
    requestId: text,
    headers: fc
      .uniqueArray(fc.tuple(fc.stringMatching(/^[a-z0-9-]{1,10}$/), text), {
        selector: (t) => t[0],
        maxLength: 4,
      })
      .map((pairs) => Object.fromEntries(pairs)),
    bodyKind,
    body: bytes,
  }),
  fc.record({ type: fc.constant(FrameType.CHUNK), streamId, last: fc.boolean(), bodyKind, body: bytes }),
  fc.record({ type: fc.constantFrom(FrameType.END, FrameType.CANCEL), streamId }),
  fc.record({
    type: fc.constant(FrameType.ERROR),
    streamId: fc.integer({ min: 0, max: 0xffff_ffff }),
    code: text,
    message: text,
  }),
  fc.record({
    type: fc.constantFrom(FrameType.PING, FrameType.PONG),
    streamId: fc.constant(0 as const),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    type: fc.constant(FrameType.WINDOW),
    streamId,
    increment: fc.integer({ min: 1, max: 0x7fff_ffff }),
  }),
);

describe('tcp codec: properties', () => {
  it('round-trips arbitrary frames split at arbitrary points', () => {
    fc.assert(
      fc.property(
        fc.array(arbFrame, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (frames, splits) => {
          const bytes = Buffer.concat(frames.map(encodeFrame));
          const out = decodeAll(bytes, splits);
          expect(out.error).toBeUndefined();
          expect(out.frames.map(plain)).toEqual(frames.map(plain));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on random bytes and never allocates past the limit', () => {
    const limit = 4096;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (random, splits, withHello) => {
          const spy = vi.spyOn(Buffer, 'allocUnsafe');
          try {
            const input = withHello ? Buffer.concat([encodeHello(limit), random]) : Buffer.from(random);
            const out = decodeAll(input, splits, limit);
            if (out.error) expect(out.error.code).toBe('WARDEN_PROTOCOL_ERROR');
            for (const [size] of spy.mock.calls) expect(size).toBeLessThanOrEqual(limit + 4);
          } finally {
            spy.mockRestore();
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never throws on valid frames followed by mutated bytes', () => {
    fc.assert(
      fc.property(
        fc.array(arbFrame, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (frames, mutations) => {
          const input = Buffer.concat(frames.map(encodeFrame));
          for (const [at, value] of mutations) input[at % input.length] = value;
          const out = decodeAll(input, [3, 11, 40]);
          if (out.error) expect(out.error.code).toBe('WARDEN_PROTOCOL_ERROR');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes the same REQUEST bytes with a remembered route as without, whatever the order of targets', () => {
    const name = fc.constantFrom('a', 'ns', 'comp', 'echo', 'é', '');
    const target = fc.record({
      namespace: name,
      component: name,
      endpoint: name,
      instanceId: fc.constantFrom('', '0123456789abcdef'),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(target, fc.string({ maxLength: 12 })), { minLength: 1, maxLength: 12 }),
        (calls) => {
          const route = new RouteBytes();
          for (const [t, requestId] of calls) {
            const head = { ...t, deadline: 5, window: 1024, requestId, headers: { a: 'b' } };
            const body = Buffer.from('"x"');
            expect(encodeRequestHead(3, head, 0, body, true, route)).toEqual(
              encodeRequestHead(3, head, 0, body, true),
            );
            expect(encodeRequestHead(3, head, 1, body, false, route)).toEqual(
              encodeRequestHead(3, head, 1, body, false),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
