#!/usr/bin/env node
/**
 * The `warden` command: `demo`, `run`, `call` and `machines`. Each command is loaded only when it
 * runs, so `warden machines` never loads a transport.
 */
import { CliError, ExitCode } from './args.js';
import { COMMAND_USAGE, USAGE } from './usage.js';

const COMMANDS: Record<string, () => Promise<(args: readonly string[]) => Promise<number>>> = {
  demo: async () => (await import('./demo.js')).demoCommand,
  run: async () => (await import('./run.js')).runCommand,
  call: async () => (await import('./call.js')).callCommand,
  machines: async () => (await import('./machines.js')).machinesCommand,
};

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const out = command === undefined ? process.stderr : process.stdout;
    out.write(`${USAGE}\n`);
    return command === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`warden: unknown command '${command}'\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  // Help needs nothing loaded; an unknown option next to it still gets the help.
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${COMMAND_USAGE[command]}\n`);
    return ExitCode.ok;
  }
  try {
    return await (await load())(args);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`warden ${command}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `warden ${command}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ExitCode.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Long-running commands (demo, run) set the exit code themselves and end when idle.
    if (process.exitCode === undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`warden: ${String(err)}\n`);
    process.exitCode = ExitCode.failure;
  },
);
