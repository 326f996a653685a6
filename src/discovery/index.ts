// Discovery of request-plane instances: the contract and the in-process implementation.
// NatsKvDiscovery lives in the subpath `warden/discovery/nats-kv`, so that only users of NATS load
// the NATS client.

export {
  checkInstance,
  checkPath,
  type Discovery,
  type DiscoveryEvent,
  type DiscoveryPath,
  DiscoveryPathSchema,
  type InstanceRecord,
  InstanceRecordSchema,
  instanceKey,
  matchesPath,
  sameInstance,
  type WatchOptions,
} from './discovery.js';
export { MemoryDiscovery } from './memory.js';
