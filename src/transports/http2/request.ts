/**
 * A request as the HTTP/2 server decoded its headers, handed to the endpoint registry once its
 * body has arrived.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { InboundRequest } from '../../core/request-plane.js';

/** What a request needs from its server, on first use only. */
export interface RequestIds {
  /** A request id for a caller that sent none. */
  nextRequestId(): string;
}

/**
 * The request as the server decoded its headers; `body` is filled in once it has arrived. The
 * handler's `headers` and a made-up request id are built on first use: most handlers read neither.
 */
export class Http2Request implements InboundRequest {
  body: unknown = undefined;
  private handlerHeaders: Record<string, string> | undefined = undefined;

  constructor(
    readonly namespace: string,
    readonly component: string,
    readonly endpoint: string,
    /** The registry key, `namespace/component/endpoint`. */
    readonly path: string,
    readonly instanceId: string | undefined,
    private id: string | undefined,
    readonly deadline: number | undefined,
    /** 0 = JSON body, 1 = raw body (see `BodyKind`). */
    readonly kind: number,
    private readonly raw: IncomingHttpHeaders,
    /** Leave `authorization` out of the handler's headers (the server checked a token with it). */
    private readonly hideAuth: boolean,
    private readonly ids: RequestIds,
  ) {}

  get requestId(): string {
    this.id ??= this.ids.nextRequestId();
    return this.id;
  }

  /** Request headers as handlers see them: no pseudo-headers, no token; repeated values joined. */
  get headers(): Record<string, string> {
    if (this.handlerHeaders === undefined) {
      const out: Record<string, string> = {};
      const headers = this.raw;
      const hideAuth = this.hideAuth;
      for (const name in headers) {
        if (name.charCodeAt(0) === 58 /* ':' */ || (hideAuth && name === 'authorization')) continue;
        const value = headers[name];
        if (value !== undefined) out[name] = typeof value === 'string' ? value : value.join(', ');
      }
      this.handlerHeaders = out;
    }
    return this.handlerHeaders;
  }
}
