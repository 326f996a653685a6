import { describe, expect, it } from 'vitest';
import { BodyKind, decodeBody, encodeBody, jsonText } from '../../src/core/body.js';
import { isWardenError, type WardenError } from '../../src/core/errors.js';

function thrown(fn: () => unknown): WardenError {
  try {
    fn();
  } catch (err) {
    if (isWardenError(err)) return err;
    throw new Error(`expected a WardenError, got ${String(err)}`);
  }
  throw new Error('expected a throw');
}

describe('jsonText', () => {
  it('encodes values as JSON, and undefined as null', () => {
    expect(jsonText({ a: [1, 'x'] }, 'request')).toBe('{"a":[1,"x"]}');
    expect(jsonText(undefined, 'response')).toBe('null');
  });

  it('blames the caller for a request body and the handler for a response chunk JSON cannot encode', () => {
    const request = thrown(() => jsonText({ n: 1n }, 'request'));
    expect(request.code).toBe('WARDEN_INVALID_REQUEST');
    expect(request.message).toMatch(/^The request body cannot be encoded as JSON: .*BigInt/);
    const response = thrown(() => jsonText({ n: 1n }, 'response'));
    expect(response.code).toBe('WARDEN_HANDLER_ERROR');
    expect(response.message).toMatch(/^A response chunk cannot be encoded as JSON: .*BigInt/);
  });

  it('reports what a toJSON threw even when it is not an Error', () => {
    const throws = (what: unknown) => ({
      toJSON() {
        throw what;
      },
    });
    expect(thrown(() => jsonText(throws('no dates here'), 'response')).message).toContain('no dates here');
    expect(thrown(() => jsonText(throws(null), 'response')).code).toBe('WARDEN_HANDLER_ERROR');
  });
});

describe('encodeBody / decodeBody', () => {
  it('round-trips JSON values and raw bytes', () => {
    const json = encodeBody({ a: 1 });
    expect(json.kind).toBe(BodyKind.json);
    expect(decodeBody(json.kind, json.bytes)).toEqual({ a: 1 });
    const bytes = new Uint8Array([1, 2, 3]);
    expect(encodeBody(bytes)).toEqual({ kind: BodyKind.raw, bytes });
    expect(decodeBody(BodyKind.raw, bytes)).toBe(bytes);
  });

  it('refuses bad JSON and unknown kinds with WARDEN_PROTOCOL_ERROR', () => {
    expect(thrown(() => decodeBody(BodyKind.json, new TextEncoder().encode('{'))).code).toBe(
      'WARDEN_PROTOCOL_ERROR',
    );
    expect(thrown(() => decodeBody(7, new Uint8Array())).code).toBe('WARDEN_PROTOCOL_ERROR');
  });
});
