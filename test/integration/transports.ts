/** The transports the conformance suite runs against, each with its limits and its codes. */

import type { TransportServer } from '../../src/actors/transport-server.js';
import type { ErrorCode } from '../../src/core/errors.js';
import type { RequestPlaneClient } from '../../src/core/request-plane.js';
import { createHttp2Client, createHttp2Server } from '../../src/transports/http2/index.js';
import { createNatsClient, createNatsServer, NATS_SESSION_ID } from '../../src/transports/nats/index.js';
import { createTcpClient, createTcpServer } from '../../src/transports/tcp/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';

export interface ConformanceEnv {
  server: TransportServer;
  client: RequestPlaneClient;
  /** Resolves when registered endpoints can be reached (NATS: the session is ready). */
  ready?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

export interface ConformanceTransport {
  name: 'tcp' | 'http2' | 'nats';
  addressPattern: RegExp;
  /** A JSON string body of this many characters is accepted; one of `overBodyChars` is refused. */
  maxBodyChars: number;
  overBodyChars: number;
  unknownEndpointCode: ErrorCode;
  unknownInstanceCode: ErrorCode;
  /** What a new call to a draining endpoint gets. */
  drainingCodes: ErrorCode[];
  setup(): Promise<ConformanceEnv>;
}

const LIMIT = 256 * 1024;

let nats: NatsServerHandle | undefined;
let natsUsers = 0;

export const transports: ConformanceTransport[] = [
  {
    name: 'tcp',
    addressPattern: /^tcp:\/\/127\.0\.0\.1:\d+$/,
    maxBodyChars: LIMIT - 1024,
    overBodyChars: LIMIT + 1024,
    unknownEndpointCode: 'WARDEN_ENDPOINT_NOT_FOUND',
    unknownInstanceCode: 'WARDEN_INSTANCE_NOT_FOUND',
    drainingCodes: ['WARDEN_ENDPOINT_DRAINING'],
    setup: async () => ({ server: createTcpServer({ maxMessageBytes: LIMIT }), client: createTcpClient() }),
  },
  {
    name: 'http2',
    addressPattern: /^http:\/\/127\.0\.0\.1:\d+$/,
    maxBodyChars: LIMIT - 1024,
    overBodyChars: LIMIT + 1024,
    unknownEndpointCode: 'WARDEN_ENDPOINT_NOT_FOUND',
    unknownInstanceCode: 'WARDEN_INSTANCE_NOT_FOUND',
    drainingCodes: ['WARDEN_ENDPOINT_DRAINING'],
    setup: async () => ({
      server: createHttp2Server({ maxMessageBytes: LIMIT }),
      client: createHttp2Client(),
    }),
  },
  {
    name: 'nats',
    addressPattern: /^nats:\/\/127\.0\.0\.1:\d+$/,
    // nats-server's default max_payload is 1 MiB; a message must fit in one NATS message.
    maxBodyChars: 1024 * 1024 - 4096,
    overBodyChars: 1024 * 1024 + 1024,
    // Nothing subscribes the subject of an unknown endpoint or instance: NATS says so at once.
    unknownEndpointCode: 'WARDEN_NO_RESPONDERS',
    unknownInstanceCode: 'WARDEN_NO_RESPONDERS',
    // A draining endpoint is unsubscribed first, so a new call finds no responder.
    drainingCodes: ['WARDEN_NO_RESPONDERS', 'WARDEN_ENDPOINT_DRAINING'],
    setup: async () => {
      nats ??= await startNatsServer();
      natsUsers++;
      const url = nats.url;
      const server = createNatsServer({
        servers: url,
        retry: { initialIntervalMs: 50, randomizationFactor: 0 },
      });
      return {
        server,
        client: createNatsClient({ servers: url }),
        ready: async () => {
          await server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
        },
        teardown: async () => {
          natsUsers--;
          if (natsUsers === 0) {
            await nats?.stop();
            nats = undefined;
          }
        },
      };
    },
  },
];
