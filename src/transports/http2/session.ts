/**
 * The client's record of one HTTP/2 session (connection) to one address, with the calls in
 * flight on it.
 */
import type { ClientHttp2Session } from 'node:http2';
import { messageOf } from '../../core/errors.js';
import type { WireError } from '../../core/request-plane.js';
import type { Http2Call } from './call.js';

/**
 * One HTTP/2 session to one address, with the calls in flight on it: a list through the calls
 * themselves, not a `Set` (a long-lived Set with calls coming and going keeps dead calls alive
 * through scavenges in V8; see `StreamTable` of the TCP transport).
 */
export class SessionRecord {
  connected = false;
  error: Error | undefined = undefined;
  private first: Http2Call | undefined = undefined;
  /** Calls in flight. */
  size = 0;

  constructor(readonly session: ClientHttp2Session) {}

  /** Why calls on this session fail once it is gone; `fallback` explains it when the session has no error. */
  lost(fallback?: Error): WireError {
    const cause = this.error ?? fallback;
    const detail = cause ? `: ${messageOf(cause)}` : '';
    return this.connected
      ? {
          code: 'WARDEN_CONNECTION_CLOSED',
          message: `The HTTP/2 connection closed before the response ended${detail}`,
        }
      : { code: 'WARDEN_CONNECTION_FAILED', message: `Could not open an HTTP/2 connection${detail}` };
  }

  add(call: Http2Call): void {
    const first = this.first;
    if (first !== undefined) first.prevCall = call;
    call.nextCall = first;
    call.listed = true;
    this.first = call;
    // An idle session must not keep the process alive; one with calls in flight must.
    if (++this.size === 1) this.session.ref();
  }

  remove(call: Http2Call): void {
    if (!call.listed) return;
    const { prevCall, nextCall } = call;
    if (prevCall !== undefined) prevCall.nextCall = nextCall;
    else this.first = nextCall;
    if (nextCall !== undefined) nextCall.prevCall = prevCall;
    call.prevCall = undefined;
    call.nextCall = undefined;
    call.listed = false;
    if (--this.size === 0 && !this.session.destroyed) this.session.unref();
  }

  /** The calls in flight, in a new array. */
  calls(): Http2Call[] {
    const out: Http2Call[] = [];
    for (let c = this.first; c !== undefined; c = c.nextCall) out.push(c);
    return out;
  }

  /** Forgets every call (the session is gone). */
  clear(): void {
    for (const call of this.calls()) {
      call.prevCall = undefined;
      call.nextCall = undefined;
      call.listed = false;
    }
    this.first = undefined;
    this.size = 0;
  }
}
