import { readFileSync } from 'node:fs';
import { isWardenError, messageOf } from '../core/errors.js';
import { NAME_PATTERN, type RequestPlaneClient } from '../core/request-plane.js';
import { CliError, ExitCode, intOption, parse } from './args.js';
import { CALL_USAGE } from './usage.js';

const TRANSPORTS: Record<string, 'tcp' | 'http2' | 'nats'> = {
  'tcp:': 'tcp',
  'tls:': 'tcp',
  'http:': 'http2',
  'https:': 'http2',
  'nats:': 'nats',
};

/** Runs `warden call`. */
export async function callCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      timeout: { type: 'string' },
      instance: { type: 'string' },
      header: { type: 'string', multiple: true },
      token: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      prefix: { type: 'string' },
    },
    CALL_USAGE,
  );
  if (values.help) {
    process.stdout.write(`${CALL_USAGE}\n`);
    return ExitCode.ok;
  }
  const [address, path, json, ...extra] = positionals;
  if (address === undefined || path === undefined || extra.length > 0) {
    throw new CliError(`warden call needs an address and an endpoint path\n\n${CALL_USAGE}`);
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new CliError(`'${address}' is not an address like tcp://127.0.0.1:7000`);
  }
  const transport = TRANSPORTS[url.protocol];
  if (!transport) {
    throw new CliError(
      `unknown scheme '${url.protocol}' in '${address}': use tcp://, tls://, http://, https:// or nats://`,
    );
  }
  const parts = path.split('/');
  if (parts.length !== 3 || !parts.every((p) => NAME_PATTERN.test(p))) {
    throw new CliError(
      `'${path}' is not namespace/component/endpoint (each part matches ^[a-z0-9][a-z0-9_-]*$)`,
    );
  }
  const [namespace, component, endpoint] = parts as [string, string, string];
  const body = parseBody(json);
  const timeoutMs = intOption(values.timeout, 'timeout', 1, 2_147_483_647);
  const headers: Record<string, string> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const eq = h.indexOf('=');
    if (eq < 1) throw new CliError(`--header must be NAME=VALUE, got '${h}'`);
    headers[h.slice(0, eq).trim().toLowerCase()] = h.slice(eq + 1);
  }
  const instanceId = typeof values.instance === 'string' ? values.instance : undefined;
  const token = typeof values.token === 'string' ? values.token : process.env.WARDEN_TOKEN;
  const tls = {
    ...(typeof values.ca === 'string' ? { ca: readFileSync(values.ca) } : {}),
    ...(values.insecure ? { rejectUnauthorized: false } : {}),
  };
  const client = await makeClient(transport, address, {
    ...(token ? { token } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(typeof values.prefix === 'string' ? { prefix: values.prefix } : {}),
  });

  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const stream = client.call(
      { address, namespace, component, endpoint, ...(instanceId ? { instanceId } : {}) },
      body,
      {
        signal: controller.signal,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
      },
    );
    for await (const chunk of stream) process.stdout.write(`${JSON.stringify(printable(chunk))}\n`);
    return ExitCode.ok;
  } catch (err) {
    if (interrupted) {
      process.stderr.write('warden call: interrupted\n');
      return 130;
    }
    const code = isWardenError(err) ? err.code : ((err as { code?: string } | null)?.code ?? 'ERROR');
    process.stderr.write(`warden call: ${code}: ${messageOf(err)}\n`);
    return ExitCode.failure;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close().catch(() => {});
  }
}

function parseBody(json: string | undefined): unknown {
  if (json === undefined) return null;
  const text = json === '-' ? readFileSync(0, 'utf8') : json;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`the request body is not JSON: ${messageOf(err)}`);
  }
}

/** Raw byte chunks print as `{ "base64": … }`; everything else as it is. */
function printable(chunk: unknown): unknown {
  return chunk instanceof Uint8Array ? { base64: Buffer.from(chunk).toString('base64') } : (chunk ?? null);
}

async function makeClient(
  transport: 'tcp' | 'http2' | 'nats',
  address: string,
  o: { token?: string; tls?: { ca?: Buffer; rejectUnauthorized?: boolean }; prefix?: string },
): Promise<RequestPlaneClient> {
  // Each transport is loaded only when used, so a TCP call never loads the NATS client.
  if (transport === 'tcp') {
    const { createTcpClient } = await import('../transports/tcp/index.js');
    return createTcpClient({ ...(o.token ? { token: o.token } : {}), ...(o.tls ? { tls: o.tls } : {}) });
  }
  if (transport === 'http2') {
    const { createHttp2Client } = await import('../transports/http2/index.js');
    return createHttp2Client({ ...(o.token ? { token: o.token } : {}), ...(o.tls ? { tls: o.tls } : {}) });
  }
  const { createNatsClient } = await import('../transports/nats/index.js');
  return createNatsClient({ servers: address, ...(o.prefix ? { prefix: o.prefix } : {}) });
}
