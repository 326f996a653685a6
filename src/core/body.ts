import { messageOf, WardenError } from './errors.js';

/** How a body or chunk is encoded on the wire: JSON text, or raw bytes. */
export const BodyKind = { json: 0, raw: 1 } as const;
/** 0 = JSON (UTF-8), 1 = raw bytes. */
export type BodyKind = (typeof BodyKind)[keyof typeof BodyKind];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Who is to blame when a value cannot be encoded: the caller's body, or a handler's chunk. */
const CANNOT_ENCODE = {
  request: { code: 'WARDEN_INVALID_REQUEST', what: 'The request body' },
  response: { code: 'WARDEN_HANDLER_ERROR', what: 'A response chunk' },
} as const;

/**
 * A value as JSON text (`undefined` as `null`). One JSON cannot encode (a cycle, a BigInt) is
 * `WARDEN_INVALID_REQUEST` from a caller, `WARDEN_HANDLER_ERROR` in a response.
 */
export function jsonText(value: unknown, side: keyof typeof CANNOT_ENCODE): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (err) {
    const { code, what } = CANNOT_ENCODE[side];
    throw new WardenError(code, `${what} cannot be encoded as JSON: ${messageOf(err)}`, { cause: err });
  }
}

/** Encodes a value: a `Uint8Array` travels raw, anything else as JSON (`undefined` as `null`). */
export function encodeBody(value: unknown): { kind: BodyKind; bytes: Uint8Array } {
  if (value instanceof Uint8Array) return { kind: BodyKind.raw, bytes: value };
  return { kind: BodyKind.json, bytes: encoder.encode(jsonText(value, 'request')) };
}

/** Decodes what {@link encodeBody} produced; bad JSON is `WARDEN_PROTOCOL_ERROR`. */
export function decodeBody(kind: number, bytes: Uint8Array): unknown {
  if (kind === BodyKind.raw) return bytes;
  if (kind !== BodyKind.json) throw new WardenError('WARDEN_PROTOCOL_ERROR', `Unknown body kind ${kind}`);
  if (bytes.length === 0) return null;
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new WardenError('WARDEN_PROTOCOL_ERROR', 'The body is not valid JSON', { cause: err });
  }
}
