/**
 * Request subjects of call targets, checked once: a client's names are checked and its subject
 * joined only when the target differs from the previous call's.
 */
import { checkName } from '../../actors/endpoint-registry.js';
import { WardenError } from '../../core/errors.js';
import { type CallTarget, INSTANCE_ID_PATTERN } from '../../core/request-plane.js';
import { requestSubject } from './codec.js';

/**
 * The request subject of the last target seen: callers usually pass the same target object again
 * and again, and checking its names and joining the subject each time costs more than the rest of
 * the publish. One entry, not a `WeakMap`: a caller who makes a new target per call would fill a
 * weak map with dead keys that every garbage collection has to sweep. A target changed since it was
 * cached (fields are compared) is checked again.
 */
export class SubjectCache {
  private target: CallTarget | undefined;
  private namespace = '';
  private component = '';
  private endpoint = '';
  private instanceId: string | undefined;
  private subject = '';

  constructor(private readonly prefix: string) {}

  of(target: CallTarget): string {
    if (
      target === this.target &&
      target.namespace === this.namespace &&
      target.component === this.component &&
      target.endpoint === this.endpoint &&
      target.instanceId === this.instanceId
    ) {
      return this.subject;
    }
    const subject = subjectOf(this.prefix, target);
    this.target = target;
    this.namespace = target.namespace;
    this.component = target.component;
    this.endpoint = target.endpoint;
    this.instanceId = target.instanceId;
    this.subject = subject;
    return subject;
  }
}

function subjectOf(prefix: string, target: CallTarget): string {
  checkName('namespace', target.namespace);
  checkName('component', target.component);
  checkName('endpoint', target.endpoint);
  const instanceId = target.instanceId;
  if (instanceId !== undefined && instanceId !== '' && !INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new WardenError(
      'WARDEN_INVALID_NAME',
      `Invalid instance id ${JSON.stringify(instanceId)}: use 16 lowercase hex digits`,
    );
  }
  return requestSubject(prefix, target.namespace, target.component, target.endpoint, instanceId || undefined);
}
