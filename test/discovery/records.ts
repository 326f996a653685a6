/** Records and namespaces for discovery tests; no vitest here, so a child process can use them too. */
import { newInstanceId } from '../../src/core/request-plane.js';
import type { InstanceRecord } from '../../src/discovery/discovery.js';

let seq = 0;
/** A unique namespace per test, so tests sharing a bucket never see each other. */
export function freshNamespace(): string {
  seq += 1;
  return `ns${Date.now().toString(36)}${seq}`;
}

/** A valid record under `namespace`. */
export function record(namespace: string, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    namespace,
    component: 'math',
    endpoint: 'add',
    instanceId: newInstanceId(),
    transport: 'tcp',
    address: 'tcp://127.0.0.1:4000',
    meta: {},
    ...over,
  };
}
