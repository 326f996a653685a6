import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import type { Connector, ReconnectHandle, RunOutcome, Session, SessionContext } from '../core/connector.js';
import { isSession } from '../core/connector.js';
import { messageOf, WardenError } from '../core/errors.js';
import { createFailureReport, type FailurePhase, type FailureReport } from '../core/failure.js';

/** What the attempts of one session need: the connector, a clock and a way to make loggers. */
export interface AttemptInput {
  readonly connector: Connector<unknown>;
  readonly now: () => number;
  /** Makes an attempt's logger on first use, so attempts nobody logs from cost nothing. */
  readonly makeLog: (attempt: number) => Logger;
  /** Where promise completions are handled (see {@link Defer}); default: at once. */
  readonly defer?: Defer | undefined;
}

/** Events the attempt actor sends to its session machine, each about the current attempt. */
export type AttemptEvent =
  | { type: 'ATTEMPT.CONNECTED' }
  | { type: 'ATTEMPT.INITIALIZED'; handle: unknown }
  | { type: 'ATTEMPT.RUN_ENDED'; outcome: RunOutcome }
  | { type: 'ATTEMPT.FAILED'; report: FailureReport }
  | { type: 'ATTEMPT.RECONNECT'; reason: string }
  | { type: 'ATTEMPT.CLOSED' };

/**
 * Commands the session machine sends to its attempt actor.
 * - `START`: abandons the current attempt, if any, and starts attempt number `attempt`;
 * - `ABANDON`: aborts the current attempt and closes its session (the machine waits for a retry);
 * - `CLOSE`: as `ABANDON`, then answers `ATTEMPT.CLOSED` once every close() of every attempt has
 *   settled (a session left earlier may still be closing).
 */
export type AttemptCommand = { type: 'START'; attempt: number } | { type: 'ABANDON' } | { type: 'CLOSE' };

const done = Promise.resolve();

/**
 * Classifies an error through the connector. A connector whose `classifyError`, `errorSummary` or
 * `errorCode` throws cannot crash the machine: its error becomes a fatal report.
 */
export function classify(
  connector: Connector<unknown>,
  phase: FailurePhase,
  err: unknown,
  attempt: number,
  at: number,
): FailureReport {
  if (err instanceof WardenError && err.code === 'WARDEN_INVALID_SESSION') {
    // warden's verdict on the connector itself: not the connector's to classify, summarise or code.
    return createFailureReport({ phase, kind: 'fatal', summary: err.message, code: err.code, attempt, at });
  }
  try {
    const kind = connector.classifyError(phase, err);
    const summary = connector.errorSummary ? connector.errorSummary(err) : messageOf(err);
    // A connector without a code for this error keeps a warden error's own code.
    const code = connector.errorCode?.(err) ?? (err instanceof WardenError ? err.code : undefined);
    if (kind !== 'retryable' && kind !== 'fatal' && kind !== 'stop') {
      return createFailureReport({
        phase,
        kind: 'fatal',
        summary: `classifyError returned ${String(kind)} for: ${messageOf(err)}`,
        attempt,
        at,
      });
    }
    return createFailureReport({ phase, kind, summary, code, attempt, at });
  } catch (classifyErr) {
    return createFailureReport({
      phase,
      kind: 'fatal',
      summary: `the connector failed to classify an error (${messageOf(classifyErr)}): ${messageOf(err)}`,
      attempt,
      at,
    });
  }
}

/**
 * Where an attempt's promise completions are handled: `defer(fn, a, b)` calls `fn(a, b)`, at once
 * or later (a supervisor's scheduler runs bursts of them in time slices), in submission order.
 */
export type Defer = <A, B>(fn: (a: A, b: B) => void, a: A, b: B) => void;

function runNow<A, B>(fn: (a: A, b: B) => void, a: A, b: B): void {
  fn(a, b);
}

/**
 * The reason every abandoned attempt's signal is aborted with. One shared instance: a
 * `DOMException` built per abort (what `abort()` without a reason does) captures a stack trace each
 * time, which in a reconnect storm of thousands of sessions is most of the cost of abandoning.
 */
const ABANDONED = new DOMException(
  'The attempt was abandoned (the session is stopping, reconnecting or was left)',
  'AbortError',
);

/** The accessors every attempt context shares (one getter function for all: see AttemptContext). */
const LAZY: Record<'log' | 'reconnect' | 'fatal', PropertyDescriptor> = {
  log: { enumerable: true, configurable: true },
  reconnect: { enumerable: true, configurable: true },
  fatal: { enumerable: true, configurable: true },
};

/**
 * The {@link SessionContext} of one attempt. Its fields are own enumerable properties (a connector
 * may spread it) and its functions work destructured. The logger, the reconnect handle and `fatal`
 * are made on first use: most sessions never log, ask to reconnect or build reports. They are
 * accessors defined with one shared getter each: a getter closure per object would give every
 * context a hidden class of its own (dictionary mode).
 */
class AttemptContext implements SessionContext {
  readonly signal: AbortSignal;
  readonly attempt: number;
  declare readonly log: Logger;
  declare readonly reconnect: ReconnectHandle;
  declare readonly fatal: SessionContext['fatal'];
  readonly #owner: Attempt;
  #log: Logger | undefined = undefined;
  #reconnect: ReconnectHandle | undefined = undefined;
  #fatal: SessionContext['fatal'] | undefined = undefined;

  constructor(owner: Attempt) {
    this.signal = owner.signal;
    this.attempt = owner.attempt;
    this.#owner = owner;
    Object.defineProperties(this, LAZY);
  }

  /** The context a getter was called on: `this`, or what it inherits from (`Object.create(ctx)`). */
  static #of(receiver: object): AttemptContext {
    let o: object | null = receiver;
    while (o !== null && !(#owner in o)) o = Object.getPrototypeOf(o) as object | null;
    if (o === null) throw new TypeError('not a session context');
    return o as AttemptContext;
  }

  static {
    LAZY.log.get = function log(this: object): Logger {
      const ctx = AttemptContext.#of(this);
      ctx.#log ??= ctx.#owner.input.makeLog(ctx.attempt);
      return ctx.#log;
    };
    LAZY.reconnect.get = function reconnect(this: object): ReconnectHandle {
      const ctx = AttemptContext.#of(this);
      if (!ctx.#reconnect) {
        const owner = ctx.#owner;
        ctx.#reconnect = {
          tryRequestReconnect(reason: string): boolean {
            return owner.requestReconnect(reason);
          },
        };
      }
      return ctx.#reconnect;
    };
    LAZY.fatal.get = function fatal(this: object): SessionContext['fatal'] {
      const ctx = AttemptContext.#of(this);
      if (!ctx.#fatal) {
        const { attempt } = ctx;
        const { input } = ctx.#owner;
        ctx.#fatal = (phase: FailurePhase, summary: string, code?: string): FailureReport =>
          createFailureReport({ phase, kind: 'fatal', summary, code, attempt, at: input.now() });
      }
      return ctx.#fatal;
    };
  }
}

/**
 * One attempt: its signal, its session and its context. Once abandoned (aborted) it sends nothing
 * more, so the machine never hears from an attempt it has left.
 *
 * Each phase's result is handled through `defer`: the event goes to the machine and the next phase
 * starts from there, so with a scheduler a burst of completions (a reconnect storm) is handled in
 * slices instead of in one microtask drain. The session itself is recorded as soon as `connect`
 * resolves, so an attempt abandoned meanwhile still closes it.
 */
class Attempt {
  readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  /** Set with the abort: reading `signal.aborted` goes through two checked getters. */
  abandoned = false;
  readonly ctx: SessionContext;
  session: Session<unknown> | undefined = undefined;
  closing: Promise<void> | undefined = undefined;
  closeWanted = false;
  ready = false;
  // Set by the first accepted request. The signal is aborted only once the machine acts on the
  // request; while the machine is busy (a call from a listener that runs inside its step) the
  // request waits in its mailbox, and this is what makes a second call return false meanwhile.
  reconnectRequested = false;
  readonly input: AttemptInput;
  private readonly defer: Defer;
  private readonly sendBack: (event: AttemptEvent) => void;

  constructor(
    readonly attempt: number,
    private readonly owner: Attempts,
  ) {
    this.input = owner.input;
    this.sendBack = owner.sendBack;
    this.defer = owner.input.defer ?? runNow;
    this.ctx = new AttemptContext(this);
  }

  requestReconnect(reason: string): boolean {
    if (this.abandoned || !this.ready || this.reconnectRequested) return false;
    this.reconnectRequested = true;
    this.sendBack({ type: 'ATTEMPT.RECONNECT', reason });
    return true;
  }

  /** Aborts the attempt and closes its session, once; resolves when that close() has settled. */
  abandon(): Promise<void> {
    if (!this.abandoned) {
      this.abandoned = true;
      this.controller.abort(ABANDONED);
    }
    this.closeWanted = true;
    if (this.closing) return this.closing;
    if (!this.session) return done;
    const s = this.session;
    this.closing = (async () => {
      try {
        await s.close?.();
      } catch (err) {
        this.ctx.log.warn({ err: messageOf(err) }, 'session close failed');
      }
    })();
    this.owner.track(this.closing);
    return this.closing;
  }

  drive(): void {
    let connecting: Promise<unknown>;
    try {
      connecting = Promise.resolve(this.input.connector.connect(this.ctx));
    } catch (err) {
      this.onFailed('connect', err);
      return;
    }
    connecting.then(
      (candidate) => this.connected(candidate),
      (err: unknown) => this.failedLater('connect', err),
    );
  }

  private connected(candidate: unknown): void {
    if (!isSession(candidate)) {
      this.failedLater(
        'connect',
        new WardenError(
          'WARDEN_INVALID_SESSION',
          'connect() resolved to something that is not a session (an object with init() and run()); fix the connector',
        ),
      );
      return;
    }
    this.session = candidate;
    if (this.closeWanted) {
      // Abandoned while connecting: the late session must still be released.
      void this.abandon();
      return;
    }
    this.defer(startInit, this, candidate);
  }

  /** @internal Tells the machine the attempt connected, then starts init. */
  onConnected(session: Session<unknown>): void {
    if (this.abandoned) return;
    this.sendBack({ type: 'ATTEMPT.CONNECTED' });
    if (this.abandoned) return;
    let initializing: Promise<void>;
    try {
      initializing = Promise.resolve(session.init(this.ctx));
    } catch (err) {
      this.onFailed('init', err);
      return;
    }
    initializing.then(
      () => {
        if (!this.abandoned) this.defer(startRun, this, session);
      },
      (err: unknown) => this.failedLater('init', err),
    );
  }

  /** @internal Tells the machine the attempt is ready (it publishes the handle), then starts run. */
  onInitialized(session: Session<unknown>): void {
    if (this.abandoned) return;
    this.ready = true;
    this.sendBack({ type: 'ATTEMPT.INITIALIZED', handle: session.handle });
    if (this.abandoned) return;
    let running: Promise<RunOutcome>;
    try {
      running = Promise.resolve(session.run(this.ctx));
    } catch (err) {
      this.onFailed('run', err);
      return;
    }
    running.then(
      (outcome) => {
        if (!this.abandoned) this.defer(endRun, this, outcome);
      },
      (err: unknown) => this.failedLater('run', err),
    );
  }

  /** @internal */
  onRunEnded(outcome: RunOutcome): void {
    if (!this.abandoned) this.sendBack({ type: 'ATTEMPT.RUN_ENDED', outcome });
  }

  private failedLater(phase: FailurePhase, err: unknown): void {
    if (!this.abandoned) this.defer(fail, this, { phase, err });
  }

  /** @internal */
  onFailed(phase: FailurePhase, err: unknown): void {
    if (this.abandoned) return;
    const report = classify(this.input.connector, phase, err, this.attempt, this.input.now());
    this.sendBack({ type: 'ATTEMPT.FAILED', report });
  }
}

function startInit(attempt: Attempt, session: Session<unknown>): void {
  attempt.onConnected(session);
}
function startRun(attempt: Attempt, session: Session<unknown>): void {
  attempt.onInitialized(session);
}
function endRun(attempt: Attempt, outcome: RunOutcome): void {
  attempt.onRunEnded(outcome);
}
function fail(attempt: Attempt, failure: { phase: FailurePhase; err: unknown }): void {
  attempt.onFailed(failure.phase, failure.err);
}

/**
 * The attempts of one session, for the session machine's whole life: on `START` it drives one
 * attempt (connect, init and run from one place, each result sent back as an event), and it
 * abandons the attempt on `ABANDON`, `CLOSE`, the next `START`, or when the machine stops it.
 * Abandoning aborts the attempt's signal and closes its session exactly once, including a session
 * that arrives after the attempt was abandoned.
 *
 * One actor per session, not one per attempt: besides costing an actor per reconnect, stopping an
 * actor makes XState scan every delayed event of the actor system, which for many sessions waiting
 * to retry at once (a reconnect storm) grows with the square of their number.
 */
export const attemptLogic = fromCallback<AttemptCommand, AttemptInput, AttemptEvent>(
  ({ input, sendBack, receive }) => {
    const attempts = new Attempts(input, sendBack);
    receive((command) => attempts.command(command));
    return () => attempts.dispose();
  },
);

/** The state of one attempt actor: the current attempt and every close() started so far. */
class Attempts {
  private current: Attempt | undefined = undefined;
  // Every close() started so far, chained: `CLOSE` answers once all of them have settled.
  private closes: Promise<void> = done;

  constructor(
    readonly input: AttemptInput,
    readonly sendBack: (event: AttemptEvent) => void,
  ) {}

  track(closing: Promise<void>): void {
    const before = this.closes;
    this.closes = before.then(() => closing);
  }

  command(command: AttemptCommand): void {
    if (command.type === 'START') {
      void this.current?.abandon();
      this.current = new Attempt(command.attempt, this);
      this.current.drive();
      return;
    }
    const closing = this.current ? this.current.abandon() : done;
    if (command.type === 'CLOSE') {
      // Read `closes` after this close settled: it may have been added just now.
      void closing.then(() => this.closes).then(() => this.sendBack({ type: 'ATTEMPT.CLOSED' }));
    }
  }

  dispose(): void {
    void this.current?.abandon();
  }
}
