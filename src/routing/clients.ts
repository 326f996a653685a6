import { messageOf, WardenError } from '../core/errors.js';
import type { RequestPlaneClient, TransportName } from '../core/request-plane.js';
import type { InstanceRecord } from '../discovery/discovery.js';
import type { Http2ClientOptions } from '../transports/http2/client.js';
import type { NatsClientOptions } from '../transports/nats/client.js';
import type { TcpClientOptions } from '../transports/tcp/options.js';

/** Options for the clients a router creates itself, per transport. */
export interface RouterClientOptions {
  readonly tcp?: TcpClientOptions;
  readonly http2?: Http2ClientOptions;
  readonly nats?: NatsClientOptions;
}

/**
 * The transport clients of a router: the caller's own (never closed here), or clients created on
 * first use and shared by every call. A transport's module is loaded only when an instance on it
 * is first called, so a router over TCP never loads the NATS client. TCP and HTTP/2 clients serve
 * every address; a created NATS client is made per address, as each address names a NATS server
 * (cluster) to connect to.
 */
export class ClientPool {
  private readonly ready = new Map<string, RequestPlaneClient>();
  private readonly creating = new Map<string, Promise<RequestPlaneClient>>();
  private readonly owned: RequestPlaneClient[] = [];
  private closed = false;

  constructor(
    private readonly given: Partial<Record<TransportName, RequestPlaneClient>>,
    private readonly options: RouterClientOptions,
  ) {}

  /** The client for `record`: synchronously when it exists, else a promise of it. */
  get(record: InstanceRecord): RequestPlaneClient | Promise<RequestPlaneClient> {
    const given = this.given[record.transport];
    if (given) return given;
    const key = record.transport === 'nats' ? `nats ${record.address}` : record.transport;
    const existing = this.ready.get(key);
    if (existing) return existing;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.create(record.transport).then(
        (client) => {
          this.creating.delete(key);
          if (this.closed) {
            void client.close();
            throw closedError();
          }
          this.ready.set(key, client);
          this.owned.push(client);
          return client;
        },
        (err) => {
          this.creating.delete(key);
          throw new WardenError(
            'WARDEN_CONNECTION_FAILED',
            `Cannot create a ${record.transport} client: ${messageOf(err)}`,
            { cause: err },
          );
        },
      );
      this.creating.set(key, pending);
    }
    return pending;
  }

  /** Closes the clients created here; calls in flight through them end with `WARDEN_CLIENT_CLOSED`. */
  async close(): Promise<void> {
    this.closed = true;
    const owned = this.owned.splice(0);
    this.ready.clear();
    await Promise.all(owned.map((c) => c.close().catch(() => {})));
  }

  private async create(transport: TransportName): Promise<RequestPlaneClient> {
    if (this.closed) throw closedError();
    switch (transport) {
      case 'tcp': {
        const { createTcpClient } = await import('../transports/tcp/client.js');
        return createTcpClient(this.options.tcp);
      }
      case 'http2': {
        const { createHttp2Client } = await import('../transports/http2/client.js');
        return createHttp2Client(this.options.http2);
      }
      case 'nats': {
        const { createNatsClient } = await import('../transports/nats/client.js');
        const given = this.options.nats ?? {};
        // A router outlives NATS restarts: keep reconnecting rather than closing after ten tries.
        return createNatsClient({
          ...given,
          connectOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 250, ...given.connectOptions },
        });
      }
    }
  }
}

function closedError(): WardenError {
  return new WardenError('WARDEN_CLIENT_CLOSED', 'The router was closed; create a new one');
}
