import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { machinesJson, machinesMarkdown, WARDEN_MACHINES } from '../inspect/machines.js';
import { toMermaid } from '../inspect/mermaid.js';
import { CliError, ExitCode, parse } from './args.js';
import { MACHINES_USAGE } from './usage.js';

/** Runs `warden machines`. */
export async function machinesCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { format: { type: 'string' }, out: { type: 'string' } },
    MACHINES_USAGE,
  );
  if (values.help) {
    process.stdout.write(`${MACHINES_USAGE}\n`);
    return ExitCode.ok;
  }
  if (positionals.length > 0) throw new CliError(`warden machines takes no arguments\n\n${MACHINES_USAGE}`);
  const format = values.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'json') {
    throw new CliError(`--format must be mermaid or json, got '${String(format)}'\n\n${MACHINES_USAGE}`);
  }
  if (typeof values.out === 'string') {
    const dir = resolve(values.out);
    await mkdir(dir, { recursive: true });
    for (const m of WARDEN_MACHINES) {
      const file = join(dir, `${m.name}.${format === 'json' ? 'json' : 'mmd'}`);
      const text =
        format === 'json' ? `${JSON.stringify(m.machine.toJSON(), null, 2)}\n` : toMermaid(m.machine);
      await writeFile(file, text);
      process.stdout.write(`${file}\n`);
    }
    return ExitCode.ok;
  }
  process.stdout.write(
    format === 'json' ? `${JSON.stringify(machinesJson(), null, 2)}\n` : machinesMarkdown(),
  );
  return ExitCode.ok;
}
