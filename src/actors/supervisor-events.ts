import type { FailureReport } from '../core/failure.js';
import type { SessionState } from '../machines/session.js';

/** The events a supervisor emits, by name. A nested supervisor's events bubble up as `outer/inner/child`. */
export interface SupervisorEventMap {
  /** A child's state changed. `failure` is set when a new failure caused it. */
  transition: {
    child: string;
    from: SessionState;
    to: SessionState;
    attempt: number;
    failure?: FailureReport;
  };
  /** A child became ready. */
  ready: { child: string; attempt: number };
  /** A child left `ready` involuntarily, or ended in `fatal`. */
  down: { child: string; from: SessionState; to: SessionState; failure?: FailureReport };
  /** A child ended in `fatal`, or (with `supervisor: true`) the supervisor itself failed. */
  failed: { child: string; report: FailureReport; supervisor?: true };
}

type Listener<T> = (payload: T) => void;

/**
 * A tiny typed emitter. A listener that throws is reported through `onListenerError` and never
 * stops the others, nor the supervisor's mailbox.
 */
export class Emitter<M> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown, event: keyof M) => void) {}

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => {
      set.delete(listener as Listener<never>);
    };
  }

  /** True when anyone listens to `event` (so callers can skip building payloads). */
  has(event: keyof M): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<M[K]>)(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}
