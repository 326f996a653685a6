import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Exit codes of the `warden` command. */
export const ExitCode = {
  ok: 0,
  /** A call failed, or the system could not start. */
  failure: 1,
  /** Bad usage or an invalid config file. */
  usage: 2,
} as const;

/** A problem the user can fix: printed without a stack, with the exit code given. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` in strict mode, with `--help`/`-h` added; unknown options become a {@link CliError}. */
export function parse<O extends Options>(
  args: readonly string[],
  options: O,
  usage: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return {
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      positionals: parsed.positionals,
    };
  } catch (err) {
    throw new CliError(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
  }
}

/** Reads an integer option in a range; a {@link CliError} names the option otherwise. */
export function intOption(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliError(`--${name} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  }
  return n;
}
