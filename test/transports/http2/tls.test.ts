import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttp2Client, type Http2Client } from '../../../src/transports/http2/index.js';
import { type Fixture, failure, startFixture } from './helpers.js';

interface Pem {
  key: string;
  cert: string;
}

/** Makes a self-signed certificate with openssl; undefined when openssl is missing. */
function selfSigned(dir: string, name: string, san: string): Pem | undefined {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${san}`,
      ],
      { stdio: 'ignore' },
    );
  } catch {
    return undefined;
  }
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

const dir = mkdtempSync(join(tmpdir(), 'warden-h2-tls-'));
const serverPem = selfSigned(dir, 'server', 'IP:127.0.0.1');
const clientPem = selfSigned(dir, 'client', 'DNS:client');
rmSync(dir, { recursive: true, force: true });
if (!serverPem) console.warn('skipping the TLS tests: openssl is not installed');

describe.skipIf(!serverPem || !clientPem)('http2 over TLS', () => {
  let tls: Fixture;
  let mtls: Fixture;
  const others: Http2Client[] = [];

  beforeAll(async () => {
    const s = serverPem as Pem;
    const c = clientPem as Pem;
    tls = await startFixture({ tls: { key: s.key, cert: s.cert } }, { tls: { ca: s.cert } });
    await tls.register('echo', async (b) => b);
    mtls = await startFixture(
      { tls: { key: s.key, cert: s.cert, ca: c.cert, requireClientCert: true } },
      { tls: { ca: s.cert, cert: c.cert, key: c.key } },
    );
    await mtls.register('echo', async (b) => b);
  });

  afterAll(async () => {
    for (const c of others) await c.close();
    await tls?.close();
    await mtls?.close();
  });

  const other = (options: Parameters<typeof createHttp2Client>[0]) => {
    const client = createHttp2Client(options);
    others.push(client);
    return client;
  };

  it('serves https:// with a certificate the client trusts', async () => {
    expect(tls.server.address()).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await tls.client.request(tls.target('echo'), { secure: true })).toEqual({ secure: true });
  });

  it('a client that does not trust the certificate fails with WARDEN_CONNECTION_FAILED', async () => {
    const err = await failure(other({}).request(tls.target('echo'), 1));
    expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
    expect(err.message).toMatch(/self.signed|certificate/i);
  });

  it('requires a client certificate when asked to (mutual TLS)', async () => {
    expect(await mtls.client.request(mtls.target('echo'), 'mutual')).toBe('mutual');
    const anonymous = other({ tls: { ca: (serverPem as Pem).cert } });
    const err = await failure(anonymous.request(mtls.target('echo'), 1));
    expect(['WARDEN_CONNECTION_FAILED', 'WARDEN_CONNECTION_CLOSED']).toContain(err.code);
  });
});
