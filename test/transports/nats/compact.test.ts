import type { Msg } from '@nats-io/transport-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyKind } from '../../../src/core/body.js';
import type { WireError } from '../../../src/core/request-plane.js';
import { type CallHost, type CallSink, NatsCall } from '../../../src/transports/nats/call.js';
import { CallTable } from '../../../src/transports/nats/call-table.js';
import { copyOf } from '../../../src/transports/nats/codec.js';
import {
  batchFrame,
  Code,
  compactRequest,
  cursor,
  encodeRequest,
  encodeValue,
  frame,
  readRequest,
  readVarint,
  valueFrame,
  varintSize,
  writeVarint,
} from '../../../src/transports/nats/compact.js';
import { Deadlines } from '../../../src/transports/nats/deadlines.js';

/** A compact message as nats.js 3.4 delivers it (no headers). */
const compactMsg = (data: Uint8Array, reply = ''): Msg =>
  ({ _msg: { hdr: -1 }, _rdata: data, data, reply }) as unknown as Msg;

/** A call whose sink records what it got. */
function recordingCall() {
  const got: unknown[] = [];
  const outcome: { ended: boolean; error: unknown; acks: number[]; cancelled: boolean } = {
    ended: false,
    error: undefined,
    acks: [],
    cancelled: false,
  };
  const sink: CallSink = {
    get done() {
      return outcome.ended || outcome.error !== undefined;
    },
    deadline: undefined,
    push: (c) => got.push(c),
    end: () => {
      outcome.ended = true;
    },
    error: (e: WireError) => {
      outcome.error = e;
    },
  };
  const host: CallHost = {
    maxMessageBytes: 1 << 20,
    startCall() {},
    cancelCall: () => {
      outcome.cancelled = true;
    },
    sendAck: (c) => {
      outcome.acks.push(c.seq);
      c.acked = c.seq;
    },
    forget() {},
  };
  const call = new NatsCall(
    host,
    1,
    sink,
    { address: '', namespace: 'a', component: 'b', endpoint: 'c' },
    null,
    undefined,
  );
  return { call, got, outcome };
}

const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const chunkArb = fc.oneof(jsonValue, fc.uint8Array({ maxLength: 300 }));

describe('NATS compact framing', () => {
  it('round-trips varints up to 2^53', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(300), fc.nat(), fc.maxSafeNat()), (n) => {
        const out = new Uint8Array(10);
        const end = writeVarint(out, 1, n);
        expect(end - 1).toBe(varintSize(n));
        readVarint(out, 1);
        expect(cursor).toEqual({ value: n, at: end });
      }),
    );
    expect(() => readVarint(Uint8Array.of(0x80, 0x80), 0)).toThrow(/cut or overlong/);
  });

  it('round-trips compact requests: kind, timeout, user headers, body', () => {
    fc.assert(
      fc.property(
        chunkArb,
        fc.option(fc.maxSafeNat(), { nil: undefined }),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), fc.string({ maxLength: 40 }), {
          maxKeys: 4,
        }),
        (body, timeoutMs, headers) => {
          fc.pre(!Object.keys(headers).some((k) => k.startsWith('warden-')));
          const list = Object.entries(headers).flat();
          const data = encodeRequest(encodeValue(body, 'request'), timeoutMs, list.length ? list : undefined);
          expect(data[0]).toBe(0x01);
          readRequest(data);
          expect(compactRequest.timeoutMs).toBe(timeoutMs);
          expect(compactRequest.headers ?? {}).toEqual(headers);
          const rest = data.subarray(compactRequest.bodyAt);
          if (body instanceof Uint8Array) {
            expect(compactRequest.kind).toBe(BodyKind.raw);
            expect([...rest]).toEqual([...body]);
          } else {
            expect(compactRequest.kind).toBe(BodyKind.json);
            expect(JSON.parse(new TextDecoder().decode(rest))).toEqual(body);
          }
        },
      ),
    );
  });

  it('refuses unknown request flags and drops reserved user headers', () => {
    expect(() => readRequest(Uint8Array.of(0x01, 0x08))).toThrow(/unknown flags/);
    const data = encodeRequest(encodeValue(1, 'request'), undefined, ['Warden-Type', 'x', 'ok', 'y']);
    readRequest(data);
    expect(compactRequest.headers).toEqual({ ok: 'y' });
  });

  it('a client reads compact chunks and batches in order, with sequence numbers in units', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(chunkArb, { minLength: 1, maxLength: 60 }), { maxLength: 8, size: 'large' }),
        (groups) => {
          const { call, got, outcome } = recordingCall();
          let seq = 0;
          for (const group of groups) {
            const values = group.map((v) => encodeValue(v, 'response'));
            const data =
              values.length === 1
                ? valueFrame(
                    values[0]?.kind === BodyKind.raw ? Code.chunkRaw : Code.chunk,
                    seq,
                    values[0] as never,
                  )
                : batchFrame(
                    seq,
                    values,
                    values.reduce((n, v) => n + varintSize(v.size * 2 + 1) + v.size, 0),
                  );
            call.receive(compactMsg(data, 'warden._ctl.x.1'));
            seq += values.length;
          }
          call.receive(compactMsg(frame(Code.end, seq, undefined)));
          expect(outcome.error).toBeUndefined();
          expect(outcome.ended).toBe(true);
          expect(got).toEqual(groups.flat().map((c) => (c instanceof Uint8Array ? new Uint8Array(c) : c)));
          // Acked at least every 32 units.
          let last = 0;
          for (const a of outcome.acks) {
            expect(a - last).toBeGreaterThanOrEqual(32);
            last = a;
          }
          expect(seq - last).toBeLessThan(32 + 40);
          if (groups.length > 0) expect(call.control).toBe('warden._ctl.x.1');
        },
      ),
    );
  });

  it('a client refuses a gap in the units and an unknown first byte', () => {
    const { call, outcome } = recordingCall();
    const two = [encodeValue(1, 'response'), encodeValue(2, 'response')];
    call.receive(compactMsg(batchFrame(0, two, 4)));
    call.receive(compactMsg(valueFrame(Code.last, 3, encodeValue(3, 'response'))));
    expect(outcome.error).toMatchObject({ code: 'WARDEN_PROTOCOL_ERROR' });
    expect((outcome.error as Error).message).toMatch(/expected #2, got #3/);
    expect(outcome.cancelled).toBe(true);
    const other = recordingCall();
    other.call.receive(compactMsg(new TextEncoder().encode('hello')));
    expect((other.outcome.error as Error).message).toMatch(/without warden framing/);
  });

  it('raw chunks are copies, not views of the socket buffer', () => {
    const socketBuffer = new Uint8Array(1000).fill(9);
    const copy = copyOf(socketBuffer, 10, 20);
    expect(copy.buffer.byteLength).toBe(10);
    expect([...copy]).toEqual(new Array(10).fill(9));
    const big = copyOf(socketBuffer, 100, 900);
    expect(big.buffer.byteLength).toBe(800);
    // A Buffer's `slice` is a view: the copy must not be one.
    const buf = Buffer.alloc(100, 1);
    const c = copyOf(buf, 0, 100);
    c[0] = 2;
    expect(buf[0]).toBe(1);
  });
});

describe('NATS call table', () => {
  it('finds calls by token, from text or bytes, and never a late answer in a reused slot', () => {
    const table = new CallTable<{ id: number; slot: number }>();
    const a = { id: 1, slot: -1 };
    const b = { id: 2, slot: -1 };
    const ta = table.add(a);
    const tb = table.add(b);
    expect(table.find(ta)).toBe(a);
    expect(table.findBytes(new TextEncoder().encode(`x.${tb}`), 2)).toBe(b);
    expect(table.delete(a)).toBe(true);
    expect(table.delete(a)).toBe(false);
    const c = { id: 3, slot: -1 };
    const tc = table.add(c);
    expect(c.slot).toBe(0); // a's slot, reused
    expect(table.find(ta)).toBeUndefined(); // a's late answer does not reach c
    expect(table.findBytes(new TextEncoder().encode(ta), 0)).toBeUndefined();
    expect(table.find(tc)).toBe(c);
    expect(table.size).toBe(2);
    expect(table.find('zz')).toBeUndefined();
    expect(table.findBytes(new TextEncoder().encode('0_'), 0)).toBeUndefined();
  });
});

describe('NATS deadlines', () => {
  it('expires calls at their deadlines on one timer, skipping ended ones', async () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const call = (name: string, ms: number) => {
      const c = {
        name,
        deadline: Date.now() + ms,
        done: false,
        expire() {
          c.done = true;
          expired.push(name);
          deadlines.ended();
        },
      };
      deadlines.add(c, ms);
      return c;
    };
    call('slow', 80);
    const ended = call('ended', 20);
    call('fast', 30);
    ended.done = true;
    deadlines.ended();
    for (let i = 0; i < 300; i++) call(`done-${i}`, 50).done = true; // compacted away
    for (let i = 0; i < 300; i++) deadlines.ended();
    await new Promise((r) => setTimeout(r, 150));
    expect(expired).toEqual(['fast', 'slow']);
    deadlines.clear();
  });
});
