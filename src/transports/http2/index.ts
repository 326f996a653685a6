// The HTTP/2 transport of the request plane, exported as the subpath `warden/transports/http2`.
// The wire format is specified in docs/protocol/http2.md.

export {
  createHttp2Client,
  Http2Client,
  type Http2ClientOptions,
  Http2ClientOptionsSchema,
  type Http2ClientTlsOptions,
} from './client.js';
export {
  ContentTypes,
  END_FRAME,
  encodeChunk,
  encodeFrame,
  endpointUrlPath,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameKind,
  type FrameSink,
  Http2Headers,
  httpStatusOf,
} from './codec.js';
export {
  createHttp2Server,
  Http2Server,
  type Http2ServerOptions,
  Http2ServerOptionsSchema,
  type Http2ServerTlsOptions,
} from './server.js';
