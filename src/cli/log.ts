import { type LevelWithSilent, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

/** How the CLI logs: readable lines on a terminal, JSON lines otherwise (or when asked). */
export interface CliLogOptions {
  /** Force JSON lines even on a terminal. */
  readonly json?: boolean;
  /** Default `info`. */
  readonly level?: LevelWithSilent;
  /** Where to write (default stdout). */
  readonly stream?: NodeJS.WriteStream;
}

/**
 * The CLI's logger. On a TTY it prints through pino-pretty (colours, local time, the supervisor and
 * child labels kept in line); otherwise each line is one JSON object, as a service's logs are
 * collected. Both write synchronously, so nothing is lost when the process exits.
 */
export function createCliLogger(options: CliLogOptions = {}): Logger {
  const stream = options.stream ?? process.stdout;
  const level = options.level ?? 'info';
  if (options.json || !stream.isTTY)
    return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: fdOf(stream), sync: true }));
  return pino(
    { level },
    pretty({
      colorize: true,
      sync: true,
      destination: stream,
      translateTime: 'SYS:HH:MM:ss.l',
      // The message already says what these say; what is left (an error, say) is printed below it.
      ignore: `pid,hostname,${SAID_IN_MESSAGE.join(',')}`,
      messageFormat:
        '{if supervisor}[{supervisor}] {end}{msg}{if failure.code} [{failure.code}]{end}{if address} {address}{end}',
    }),
  );
}

/** Fields the readable format leaves out because the message carries them. */
const SAID_IN_MESSAGE = [
  'supervisor',
  'child',
  'from',
  'to',
  'attempt',
  'failure',
  'report',
  'transport',
  'address',
  'server',
  'url',
  'nats',
  'signal',
  'event',
  'restarts',
  'health',
  'endpoints',
  'state',
];

function fdOf(stream: NodeJS.WriteStream): number {
  const fd = (stream as unknown as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : 1;
}
