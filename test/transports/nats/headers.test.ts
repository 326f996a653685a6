import { type Msg, type MsgHdrs, MsgHdrsImpl } from '@nats-io/transport-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyKind } from '../../../src/core/body.js';
import { MessageType } from '../../../src/transports/nats/codec.js';
import {
  headerLines,
  headerText,
  messageHeaders,
  readRequestMeta,
  readResponseMeta,
  requestHeaders,
  statusCode,
  userHeaderList,
} from '../../../src/transports/nats/headers.js';

/** A message as nats.js 3.4 delivers it (raw buffer), and one offering only the public `headers`. */
function messages(headerBytes: Uint8Array): { raw: Msg; parsed: Msg } {
  const data = new Uint8Array(headerBytes.length + 3);
  data.set(headerBytes);
  const raw = { _msg: { hdr: headerBytes.length }, _rdata: data } as unknown as Msg;
  const parsed = { headers: MsgHdrsImpl.decode(headerBytes) } as unknown as Msg;
  return { raw, parsed };
}

const userHeaderLines = (values: Record<string, string>) => headerLines(userHeaderList(values));
const encode = (h: MsgHdrs) => (h as unknown as { encode(): Uint8Array }).encode();
const headerName = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/)
  .filter((n) => !n.toLowerCase().startsWith('warden-'));
const headerValueArb = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);

describe('NATS headers', () => {
  it('round-trips request headers, both from the raw buffer and from nats.js headers', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.option(fc.nat({ max: 10_000_000 }), { nil: undefined }),
        fc.boolean(),
        fc.dictionary(headerName, headerValueArb, { maxKeys: 5 }),
        (requestId, timeoutMs, raw, user) => {
          // Names differing only in case would collapse to one lower-case key.
          const lowered = new Map(Object.entries(user).map(([k, v]) => [k.toLowerCase(), v]));
          fc.pre(lowered.size === Object.keys(user).length);
          const kind = raw ? BodyKind.raw : BodyKind.json;
          const bytes = encode(requestHeaders(requestId, timeoutMs, kind, userHeaderLines(user)));
          for (const msg of Object.values(messages(bytes))) {
            const meta = readRequestMeta(msg);
            expect(meta.requestId).toBe(requestId);
            expect(meta.timeoutMs).toBe(timeoutMs);
            expect(meta.kind).toBe(kind);
            expect(meta.headers).toEqual(Object.fromEntries(lowered));
          }
        },
      ),
    );
  });

  it('round-trips response headers across the cache boundary', () => {
    const types = [MessageType.chunk, MessageType.part, MessageType.last, MessageType.end, MessageType.error];
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.oneof(fc.nat({ max: 300 }), fc.nat()),
        fc.boolean(),
        (type, seq, raw) => {
          const kind = raw ? BodyKind.raw : BodyKind.json;
          for (const msg of Object.values(messages(encode(messageHeaders(type, seq, kind))))) {
            expect(readResponseMeta(msg)).toEqual({ status: 0, type, seq, kind });
          }
        },
      ),
    );
  });

  it('reads NATS status messages and messages without headers', () => {
    const status = new TextEncoder().encode('NATS/1.0 503\r\n\r\n');
    for (const msg of Object.values(messages(status))) {
      expect(statusCode(headerText(msg))).toBe(503);
      expect(readResponseMeta(msg).status).toBe(503);
    }
    const none = { _msg: { hdr: -1 }, _rdata: new Uint8Array(3) } as unknown as Msg;
    expect(headerText(none)).toBeUndefined();
    expect(readRequestMeta(none)).toEqual({
      requestId: undefined,
      timeoutMs: undefined,
      kind: BodyKind.json,
      headers: {},
    });
    expect(Number.isNaN(readResponseMeta(none).seq)).toBe(true);
  });

  it('writes a request without an id (the server then uses the reply subject)', () => {
    const bytes = encode(requestHeaders(undefined, 250, BodyKind.raw, ''));
    expect(new TextDecoder().decode(bytes)).toBe(
      'NATS/1.0\r\nWarden-Timeout-Ms: 250\r\nWarden-Body: raw\r\n\r\n',
    );
    const meta = readRequestMeta(messages(bytes).raw);
    expect(meta).toMatchObject({ requestId: undefined, timeoutMs: 250, kind: BodyKind.raw });
  });

  it('refuses reserved and malformed user headers', () => {
    expect(() => userHeaderLines({ 'Warden-Type': 'x' })).toThrow(/reserved/);
    expect(() => userHeaderLines({ 'bad name': 'x' })).toThrow(/Invalid header/);
    expect(() => userHeaderLines({ ok: 'line\r\nbreak' })).toThrow(/CR or LF/);
    expect(userHeaderLines({ traceparent: '00-ab-cd-01' })).toBe('traceparent: 00-ab-cd-01\r\n');
  });
});
