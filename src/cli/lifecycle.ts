import type { Logger } from 'pino';
import { messageOf } from '../core/errors.js';

/**
 * Resolves with an exit code once SIGINT or SIGTERM arrived and `stop` finished: 0 when it stopped
 * cleanly, 1 when stopping failed. A second signal while stopping exits at once with 130.
 */
export function stopOnSignal(log: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, `${signal} again: exiting without waiting`);
        process.exit(130);
      }
      stopping = true;
      log.info({ signal }, `${signal}: stopping`);
      stop().then(
        () => {
          log.info('stopped cleanly');
          done(0);
        },
        (err: unknown) => {
          log.error({ err: messageOf(err) }, 'stopping failed');
          done(1);
        },
      );
    };
    const done = (code: number): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Sets the exit code and lets the process end by itself (which shows nothing was left running);
 * should a handle still be open after `graceMs`, it exits anyway and says so.
 */
export function exitWhenIdle(code: number, log: Logger, graceMs = 3000): void {
  process.exitCode = code;
  setTimeout(() => {
    log.warn(`something was still open ${graceMs} ms after stopping; exiting anyway`);
    process.exit(code);
  }, graceMs).unref();
}
