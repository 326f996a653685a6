/**
 * The request-plane benchmark: runs the TCP, HTTP/2 and NATS benchmarks one after the other, each
 * against its raw baseline in the same run (a bare `node:net` length-prefixed echo, a bare
 * `node:http2` echo and h2load, bare NATS publish with one reply subscription and `request()`).
 * Each prints requests/s and p50/p99 latency for warden and the baseline, and the ratio.
 *
 * Run:   npm run bench:request-plane
 *        npx tsx bench/request-plane.ts --only tcp,nats     (a subset of the transports)
 * Every other flag is passed through to each transport's benchmark (for example `--seconds 4`).
 * The NATS part starts its own nats-server on a free port (Debian: apt-get install -y nats-server).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const TRANSPORTS = ['tcp', 'http2', 'nats'] as const;

function selected(args: string[]): { transports: string[]; rest: string[] } {
  const i = args.indexOf('--only');
  if (i < 0) return { transports: [...TRANSPORTS], rest: args };
  const list = (args[i + 1] ?? '').split(',').filter(Boolean);
  const unknown = list.filter((t) => !(TRANSPORTS as readonly string[]).includes(t));
  if (unknown.length || !list.length) {
    console.error(
      `--only takes a comma-separated list of ${TRANSPORTS.join(', ')}; got '${args[i + 1] ?? ''}'`,
    );
    process.exit(2);
  }
  return { transports: list, rest: [...args.slice(0, i), ...args.slice(i + 2)] };
}

function run(file: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const { transports, rest } = selected(process.argv.slice(2));
let failed = 0;
for (const t of transports) {
  console.log(`\n=== request plane over ${t} ===\n`);
  const code = await run(join(import.meta.dirname, `request-plane-${t}.ts`), rest);
  if (code !== 0) {
    console.error(`bench/request-plane-${t}.ts exited with code ${code}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
