/**
 * The transports the conformance suite runs against, each with its limits and its codes.
 *
 * Where a transport answers a case with another code than TCP and HTTP/2 do, the entry names the
 * code it must give exactly and says why (`why`), so a difference is a documented property of the
 * transport, never a silent divergence. The suite asserts these codes with `toBe`, not "one of".
 */

import { connect as http2Connect } from 'node:http2';
import { type NatsConnection, connect as natsConnect } from '@nats-io/transport-node';
import type { TransportServer } from '../../src/actors/transport-server.js';
import type { ErrorCode } from '../../src/core/errors.js';
import type { RequestPlaneClient } from '../../src/core/request-plane.js';
import { createHttp2Client, createHttp2Server } from '../../src/transports/http2/index.js';
import {
  createNatsClient,
  createNatsServer,
  NATS_SESSION_ID,
  type NatsServer,
} from '../../src/transports/nats/index.js';
import { encodeRequest, type Frame, FrameType, UNLIMITED_WINDOW } from '../../src/transports/tcp/codec.js';
import { createTcpClient, createTcpServer } from '../../src/transports/tcp/index.js';
import { type NatsServerHandle, startNatsServer } from '../helpers/nats-server.js';
import { RawPeer } from '../transports/tcp/helpers.js';

export interface ConformanceEnv {
  server: TransportServer;
  client: RequestPlaneClient;
  /** Resolves when registered endpoints can be reached (NATS: the session is ready). */
  ready?: () => Promise<void>;
  teardown?: () => Promise<void>;
  /**
   * NATS only: probes, from a separate NATS connection, the subjects `server` subscribes for the
   * given endpoints and for itself (`$SRV.*` and its control subject), and says per subject whether
   * anything still subscribes it. `{prefix}._cancel` is left out: every warden NATS server on the
   * same NATS server subscribes it, so it says nothing about this one.
   */
  probeSubscriptions?: (
    endpoints: ReadonlyArray<{ endpoint: string; instanceId: string }>,
  ) => Promise<Record<string, SubjectState>>;
}

/** `none`: NATS has no subscriber (no responders); `answered` / `silent`: something subscribes it. */
export type SubjectState = 'none' | 'answered' | 'silent';

/** The outcome of one request sent by a {@link RawConnection}. */
export type RawOutcome = { ok: unknown } | { code: string; message: string };

/**
 * One connection that speaks the transport's wire format itself, bypassing warden's client and
 * its own checks (the TCP client refuses a body over the server's HELLO limit before sending it),
 * so what answers is the server.
 */
export interface RawConnection {
  /** Sends one request to `namespace/component/endpoint` with the JSON text `json` as its body. */
  request(namespace: string, component: string, endpoint: string, json: string): Promise<RawOutcome>;
  close(): void;
}

export interface ConformanceTransport {
  name: 'tcp' | 'http2' | 'nats';
  addressPattern: RegExp;
  /** A JSON string body of this many characters is accepted; one of `overBodyChars` is refused. */
  maxBodyChars: number;
  overBodyChars: number;
  /**
   * Who refuses the `overBodyChars` body when warden's own client sends it. Only `server` proves
   * the server's limit; a transport whose client refuses first has a {@link rawConnection}.
   */
  overLimitRefusedBy: 'client' | 'server';
  /** Opens a raw connection to `address`; undefined where the server has no request limit of its own. */
  rawConnection: ((address: string) => Promise<RawConnection>) | undefined;
  unknownEndpointCode: ErrorCode;
  unknownInstanceCode: ErrorCode;
  /** What a new call to a draining endpoint gets (once the server reports the endpoint draining). */
  drainingCode: ErrorCode;
  /** What a new call gets from a client already connected while the server drains in `stop()`. */
  stoppingCode: ErrorCode;
  /** Why this transport's codes (or its missing raw connection) are what they are. */
  why: {
    unknownEndpoint: string;
    unknownInstance: string;
    draining: string;
    stopping: string;
    rawConnection: string;
  };
  setup(): Promise<ConformanceEnv>;
}

const LIMIT = 256 * 1024;

let nats: NatsServerHandle | undefined;
let natsUsers = 0;

const REGISTRY_ANSWERS =
  'the server owns the listener, receives the request and its endpoint registry answers with this code';

export const transports: ConformanceTransport[] = [
  {
    name: 'tcp',
    addressPattern: /^tcp:\/\/127\.0\.0\.1:\d+$/,
    maxBodyChars: LIMIT - 1024,
    overBodyChars: LIMIT + 1024,
    // The client learns the server's maxFrameBytes from its HELLO and refuses a larger REQUEST
    // itself (docs/protocol/tcp.md: "A sender never sends a frame over the smaller of both limits").
    overLimitRefusedBy: 'client',
    rawConnection: rawTcp,
    unknownEndpointCode: 'WARDEN_ENDPOINT_NOT_FOUND',
    unknownInstanceCode: 'WARDEN_INSTANCE_NOT_FOUND',
    drainingCode: 'WARDEN_ENDPOINT_DRAINING',
    stoppingCode: 'WARDEN_ENDPOINT_DRAINING',
    why: {
      unknownEndpoint: REGISTRY_ANSWERS,
      unknownInstance: REGISTRY_ANSWERS,
      draining: REGISTRY_ANSWERS,
      stopping:
        'connections stay open while stop() drains; each endpoint is draining, so the registry refuses the call',
      rawConnection: 'a raw socket sends the over-limit REQUEST the warden client would refuse',
    },
    setup: async () => ({ server: createTcpServer({ maxMessageBytes: LIMIT }), client: createTcpClient() }),
  },
  {
    name: 'http2',
    addressPattern: /^http:\/\/127\.0\.0\.1:\d+$/,
    maxBodyChars: LIMIT - 1024,
    overBodyChars: LIMIT + 1024,
    // The HTTP/2 client sends any body; the server answers 413.
    overLimitRefusedBy: 'server',
    rawConnection: rawHttp2,
    unknownEndpointCode: 'WARDEN_ENDPOINT_NOT_FOUND',
    unknownInstanceCode: 'WARDEN_INSTANCE_NOT_FOUND',
    drainingCode: 'WARDEN_ENDPOINT_DRAINING',
    stoppingCode: 'WARDEN_SERVER_NOT_RUNNING',
    why: {
      unknownEndpoint: REGISTRY_ANSWERS,
      unknownInstance: REGISTRY_ANSWERS,
      draining: REGISTRY_ANSWERS,
      stopping:
        'a stopping server answers every new stream 503 WARDEN_SERVER_NOT_RUNNING before it looks at the path (docs/protocol/http2.md, Stopping)',
      rawConnection: 'a bare node:http2 session, as another implementation would call the server',
    },
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
    // nats.js refuses a publish over the NATS server's max_payload before it leaves.
    overLimitRefusedBy: 'client',
    rawConnection: undefined,
    // Inherent to NATS: a request goes to a subject, not to a server. When nothing subscribes the
    // subject, nats-server itself answers "no responders" (status 503) at once and no warden server
    // ever sees the request, so there is no registry to say "not found" or "draining".
    unknownEndpointCode: 'WARDEN_NO_RESPONDERS',
    unknownInstanceCode: 'WARDEN_NO_RESPONDERS',
    drainingCode: 'WARDEN_NO_RESPONDERS',
    stoppingCode: 'WARDEN_NO_RESPONDERS',
    why: {
      unknownEndpoint:
        'no warden server subscribes {prefix}.{ns}.{comp}.{endpoint} of an unknown endpoint: nats-server answers no responders',
      unknownInstance:
        'only the server with that instance subscribes the direct subject {…}.{endpoint}.{instanceId}: nats-server answers no responders',
      draining:
        'unregisterEndpoint unsubscribes (and flushes) before it marks the endpoint draining, so a new call finds no subscriber',
      stopping:
        'stop() unsubscribes every endpoint (and flushes) before it drains, so a new call finds no subscriber',
      rawConnection:
        "a request is one NATS message bounded by nats-server's max_payload (nats-server, not warden, enforces it); the warden NATS server has no request limit of its own to exercise",
    },
    setup: async () => {
      nats ??= await startNatsServer();
      natsUsers++;
      const url = nats.url;
      const server = createNatsServer({
        servers: url,
        retry: { initialIntervalMs: 50, randomizationFactor: 0 },
      });
      let probe: NatsConnection | undefined;
      return {
        server,
        client: createNatsClient({ servers: url }),
        ready: async () => {
          await server.supervisor.waitFor(NATS_SESSION_ID, 'ready', { timeoutMs: 5000 });
        },
        probeSubscriptions: async (endpoints) => {
          probe ??= await natsConnect({ servers: url });
          return probeNatsSubjects(probe, server, endpoints);
        },
        teardown: async () => {
          await probe?.close();
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

/** The subjects a warden NATS server subscribes for itself and for `endpoints` (see docs/protocol/nats.md). */
function natsSubjects(
  server: NatsServer,
  endpoints: ReadonlyArray<{ endpoint: string; instanceId: string }>,
  namespace = 'conf',
  component = 'suite',
): string[] {
  const name = server.prefix.replaceAll('.', '-');
  const subjects: string[] = [];
  for (const verb of ['PING', 'INFO', 'STATS']) subjects.push(`$SRV.${verb}.${name}.${server.serverId}`);
  subjects.push(`${server.prefix}._ctl.${server.serverId}.0`);
  for (const { endpoint, instanceId } of endpoints) {
    const any = `${server.prefix}.${namespace}.${component}.${endpoint}`;
    subjects.push(any, `${any}.${instanceId}`);
  }
  return subjects;
}

async function probeNatsSubjects(
  probe: NatsConnection,
  server: NatsServer,
  endpoints: ReadonlyArray<{ endpoint: string; instanceId: string }>,
): Promise<Record<string, SubjectState>> {
  const out: Record<string, SubjectState> = {};
  for (const subject of natsSubjects(server, endpoints)) {
    try {
      // A subscriber that does not answer (the control subject) shows as a timeout.
      await probe.request(subject, 'null', { timeout: 300 });
      out[subject] = 'answered';
    } catch (err) {
      out[subject] = /no responders|503/i.test(String(err)) ? 'none' : 'silent';
    }
  }
  return out;
}

/** A raw TCP connection: HELLO, then REQUEST frames on odd stream ids, answered frame by frame. */
async function rawTcp(address: string): Promise<RawConnection> {
  const peer = await RawPeer.hello(address);
  let next = -1;
  const isFinal = (id: number) => (f: Frame) =>
    f.streamId === id &&
    (f.type === FrameType.END || f.type === FrameType.ERROR || (f.type === FrameType.CHUNK && f.last));
  return {
    async request(namespace, component, endpoint, json) {
      next += 2;
      const id = next;
      const head = {
        deadline: 0,
        window: UNLIMITED_WINDOW,
        namespace,
        component,
        endpoint,
        instanceId: '',
        requestId: `raw-${id}`,
        headers: undefined,
      };
      const frame = encodeRequest(id, head, 0, Buffer.from(json));
      // Written in pieces, as a peer on a real network would.
      for (let off = 0; off < frame.length; off += 64 * 1024) peer.send(frame.subarray(off, off + 64 * 1024));
      const final = await peer.waitFor(isFinal(id));
      if (final.type === FrameType.ERROR) return { code: final.code, message: final.message };
      const chunks = peer.frames.filter((f) => f.streamId === id && f.type === FrameType.CHUNK);
      const last = chunks.at(-1);
      return {
        ok: last?.type === FrameType.CHUNK ? JSON.parse(Buffer.from(last.body).toString()) : undefined,
      };
    },
    close: () => peer.destroy(),
  };
}

/** A raw HTTP/2 session: one stream per request, NDJSON or an error status with a JSON body. */
async function rawHttp2(address: string): Promise<RawConnection> {
  const session = http2Connect(address);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return {
    request(namespace, component, endpoint, json) {
      return new Promise((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `/v1/${namespace}/${component}/${endpoint}`,
          'content-type': 'application/json',
        });
        let status = 0;
        const parts: Buffer[] = [];
        stream.on('response', (h) => {
          status = h[':status'] ?? 0;
        });
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('error', () => {});
        stream.on('close', () => {
          const text = Buffer.concat(parts).toString('utf8');
          try {
            if (status === 200) resolve({ ok: JSON.parse(text.trim().split('\n').at(-1) ?? 'null') });
            else resolve(JSON.parse(text) as { code: string; message: string });
          } catch (err) {
            reject(new Error(`status ${status}, body ${text.slice(0, 200)}: ${String(err)}`));
          }
        });
        stream.end(json);
      });
    },
    close: () => session.destroy(),
  };
}
