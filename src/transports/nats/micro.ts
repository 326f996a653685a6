/**
 * The NATS micro-service protocol (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`, each also as
 * `.{name}` and `.{name}.{id}`), so `nats micro ls/info/stats` and any micro client see a warden
 * NATS server as one service whose endpoints are its registered endpoints.
 */
import type { EndpointInfo } from '../../actors/endpoint-registry.js';
import { QUEUE_GROUP, requestSubject } from './codec.js';

/** The identity a warden NATS server answers `$SRV` requests with. */
export interface MicroIdentity {
  /** The service name (`^[A-Za-z0-9_-]+$`), shared by every server of the same kind. */
  readonly name: string;
  /** This server's id. */
  readonly id: string;
  /** A semantic version. */
  readonly version: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The verbs of the micro protocol. */
export const MicroVerb = { ping: 'PING', info: 'INFO', stats: 'STATS' } as const;
/** A value of {@link MicroVerb}. */
export type MicroVerb = (typeof MicroVerb)[keyof typeof MicroVerb];

/** Micro service names: letters, digits, `_` and `-`. */
export const MICRO_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/** The nine subjects a server subscribes (no queue group: every instance answers). */
export function microSubjects(identity: MicroIdentity): Array<{ verb: MicroVerb; subject: string }> {
  const out: Array<{ verb: MicroVerb; subject: string }> = [];
  for (const verb of Object.values(MicroVerb)) {
    out.push({ verb, subject: `$SRV.${verb}` });
    out.push({ verb, subject: `$SRV.${verb}.${identity.name}` });
    out.push({ verb, subject: `$SRV.${verb}.${identity.name}.${identity.id}` });
  }
  return out;
}

function base(type: string, identity: MicroIdentity) {
  return {
    type,
    name: identity.name,
    id: identity.id,
    version: identity.version,
    metadata: identity.metadata,
  };
}

function endpointMetadata(e: EndpointInfo, prefix: string): Record<string, string> {
  return {
    path: e.path,
    namespace: e.namespace,
    component: e.component,
    endpoint: e.endpoint,
    instance_id: e.instanceId,
    direct_subject: requestSubject(prefix, e.namespace, e.component, e.endpoint, e.instanceId),
    draining: String(e.draining),
  };
}

/** The body of a `$SRV` response (`io.nats.micro.v1.{ping,info,stats}_response`). */
export function microResponse(
  verb: MicroVerb,
  identity: MicroIdentity,
  endpoints: readonly EndpointInfo[],
  prefix: string,
  started: string,
): unknown {
  switch (verb) {
    case MicroVerb.ping:
      return base('io.nats.micro.v1.ping_response', identity);
    case MicroVerb.info:
      return {
        ...base('io.nats.micro.v1.info_response', identity),
        description: identity.description,
        endpoints: endpoints.map((e) => ({
          name: e.endpoint,
          subject: requestSubject(prefix, e.namespace, e.component, e.endpoint),
          queue_group: QUEUE_GROUP,
          metadata: endpointMetadata(e, prefix),
        })),
      };
    case MicroVerb.stats:
      return {
        ...base('io.nats.micro.v1.stats_response', identity),
        started,
        endpoints: endpoints.map((e) => {
          // The micro protocol counts time in nanoseconds.
          const processing = Math.round(e.processingMs * 1e6);
          return {
            name: e.endpoint,
            subject: requestSubject(prefix, e.namespace, e.component, e.endpoint),
            queue_group: QUEUE_GROUP,
            num_requests: e.requests,
            num_errors: e.errors,
            last_error: e.lastError ? `${e.lastError.code}: ${e.lastError.message}` : '',
            processing_time: processing,
            average_processing_time: e.requests > 0 ? Math.round(processing / e.requests) : 0,
            data: { inflight: e.inflight, path: e.path, instance_id: e.instanceId },
          };
        }),
      };
  }
}
