// The NATS transport of the request plane (subpath `warden/transports/nats`): named re-exports only.

export { createNatsClient, NatsClient, type NatsClientOptions } from './client.js';
export {
  cancelSubject,
  controlPrefix,
  DEFAULT_PREFIX,
  MessageType,
  NatsHeader,
  QUEUE_GROUP,
  requestSubject,
} from './codec.js';
export { type MicroIdentity, MicroVerb, microResponse, microSubjects } from './micro.js';
export { NATS_SESSION_ID, type NatsServerOptions, natsAddress } from './options.js';
export { createNatsServer, NatsServer } from './server.js';
export {
  classifyNatsError,
  createNatsConnector,
  type NatsConnectorOptions,
  type NatsSessionHooks,
} from './session.js';
