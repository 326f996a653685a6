/**
 * One request being served by the endpoint registry: its {@link Inflight} record (cancel,
 * deadline, the end, counters) and the {@link Context} its handler sees. Both are classes with
 * their accessors on the prototype and no closures per request: the hot path allocates these two
 * objects and the handler's promise, nothing else.
 */
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import { WardenError } from '../core/errors.js';
import type {
  EndpointHandler,
  EndpointRegistration,
  InboundRequest,
  InflightRequest,
  RequestContext,
  ResponseSink,
  WireError,
} from '../core/request-plane.js';
import type { RequestObserver } from './endpoint-registry.js';

/** One registered endpoint and its counters (the registry's record of it). */
export interface Entry {
  readonly reg: EndpointRegistration;
  readonly path: string;
  readonly handler: EndpointHandler;
  readonly schema: ZodType | undefined;
  draining: boolean;
  /**
   * The requests in flight, as a list through {@link Inflight}, and its length. Not a `Set`: V8
   * reallocates the table of a Set that lives in old space in old space as entries come and go, and
   * the dead tables keep recent requests alive through every scavenge until the next full GC
   * (measured on the TCP server: 1.6 MB surviving each scavenge instead of 0, 3× the GC time).
   */
  first: Inflight | undefined;
  inflight: number;
  requests: number;
  errors: number;
  processingMs: number;
  lastError: WireError | undefined;
  log: Logger | undefined;
}

/** The abort reason of a handler whose response ended normally: made once, not per request. */
const FINISHED = new WardenError('WARDEN_CANCELLED', 'The response has ended');

/** The requests in flight at an entry, newest first (a copy: finishing one unlinks it). */
export function inflightOf(entry: Entry): Inflight[] {
  const out: Inflight[] = [];
  for (let i = entry.first; i !== undefined; i = i.next) out.push(i);
  return out;
}

/** Ends a request whose deadline passed. */
export function expire(inflight: Inflight): void {
  inflight.fail({
    code: 'WARDEN_DEADLINE_EXCEEDED',
    message: `The request deadline passed (${inflight.entry.path})`,
  });
}

/**
 * What a handler gets as `ctx`. A class with its getters on the prototype, not an object literal
 * with getters: V8 builds such a literal as a dictionary-mode object with a fresh pair of closures,
 * and (measured) those objects and everything their closures reach, the whole request, survive the
 * next scavenges and get promoted. On the HTTP/2 server that made 12× more bytes survive each
 * scavenge and cost ~30% more CPU per request. `signal` and `log` are made on first use.
 */
export class Context implements RequestContext {
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly instanceId: string;
  readonly deadline: number | undefined;
  private logger: Logger | undefined = undefined;

  constructor(
    private readonly inflight: Inflight,
    private readonly req: InboundRequest,
    private readonly registryLog: Logger,
  ) {
    const reg = inflight.entry.reg;
    this.namespace = reg.namespace;
    this.component = reg.component;
    this.endpoint = reg.endpoint;
    this.instanceId = reg.instanceId;
    this.deadline = req.deadline;
  }

  // Read through: a transport may build these on first use (HTTP/2 does).
  get requestId(): string {
    return this.req.requestId;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.req.headers;
  }

  get signal(): AbortSignal {
    return this.inflight.controller.signal;
  }

  get log(): Logger {
    if (this.logger === undefined) {
      const entry = this.inflight.entry;
      entry.log ??= this.registryLog.child({ endpoint: entry.path });
      this.logger = entry.log.child({ requestId: this.requestId });
    }
    return this.logger;
  }
}

/** A settled promise, shared by every request whose `done` is read only after it ended. */
const RESOLVED: Promise<void> = Promise.resolve();

export class Inflight implements InflightRequest {
  /** Made on first use: most handlers never read their signal, and a controller costs per request. */
  private ctl: AbortController | undefined = undefined;
  /** Made on first use too: only a drain waits for a request to end. */
  private donePromise: Promise<void> | undefined = undefined;
  private resolveDone: (() => void) | undefined = undefined;
  finished = false;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Neighbours in the entry's list of requests in flight. */
  prev: Inflight | undefined = undefined;
  next: Inflight | undefined = undefined;

  constructor(
    readonly entry: Entry,
    readonly sink: ResponseSink,
    readonly startedAt: number,
    private readonly observer: RequestObserver | undefined,
  ) {}

  /** Adds this request to its entry's requests in flight. */
  link(): void {
    const entry = this.entry;
    const first = entry.first;
    if (first !== undefined) first.prev = this;
    this.next = first;
    entry.first = this;
    entry.inflight++;
  }

  /** Removes it again (once, when it finishes). */
  unlink(): void {
    const { entry, prev, next } = this;
    if (prev !== undefined) prev.next = next;
    else entry.first = next;
    if (next !== undefined) next.prev = prev;
    this.prev = undefined;
    this.next = undefined;
    entry.inflight--;
  }

  get done(): Promise<void> {
    if (this.donePromise === undefined) {
      this.donePromise = this.finished
        ? RESOLVED
        : new Promise((resolve) => {
            this.resolveDone = resolve;
          });
    }
    return this.donePromise;
  }

  get controller(): AbortController {
    if (!this.ctl) {
      this.ctl = new AbortController();
      // Read after the response ended: the signal must say so.
      if (this.finished) this.ctl.abort(FINISHED);
    }
    return this.ctl;
  }

  cancel(): void {
    this.fail({ code: 'WARDEN_CANCELLED', message: 'The caller cancelled the request' });
  }

  /** Ends the response with an error (once) and aborts the handler. */
  fail(err: WireError): void {
    if (this.finished) return;
    this.controller.abort(new WardenError(err.code, err.message));
    this.finish(err);
  }

  finish(err?: WireError): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.unlink();
    const ms = performance.now() - this.startedAt;
    this.entry.processingMs += ms;
    if (err) {
      this.entry.errors++;
      this.entry.lastError = err;
    }
    this.observer?.requestEnded(this.entry.path, err?.code, ms);
    try {
      if (err) this.sink.error(err);
      else this.sink.end();
    } finally {
      if (this.ctl && !this.ctl.signal.aborted) this.ctl.abort(FINISHED);
      this.resolveDone?.();
    }
  }
}
