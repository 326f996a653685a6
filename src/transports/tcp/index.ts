// The TCP transport of the request plane, exported as the subpath `warden/transports/tcp`.

export { createTcpClient, TcpClient } from './client.js';
export {
  type BareFrame,
  type ChunkFrame,
  DEFAULT_MAX_FRAME_BYTES,
  type ErrorFrame,
  encodeFrame,
  type Frame,
  FrameFlags,
  FrameType,
  HEADER_BYTES,
  type HelloFrame,
  type PingFrame,
  PROTOCOL_VERSION,
  type RequestFrame,
  UNLIMITED_WINDOW,
  type WindowFrame,
} from './codec.js';
export { FrameDecoder, type FrameDecoderOptions, type FrameHandler } from './decoder.js';
export type {
  TcpClientOptions,
  TcpClientTlsOptions,
  TcpServerOptions,
  TcpServerTlsOptions,
} from './options.js';
export { createTcpServer, TcpServer } from './server.js';
