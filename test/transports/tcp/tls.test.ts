/**
 * TLS: the server serves `tls://` with a key and certificate, optionally requires a client
 * certificate; the client verifies the server against its CA. Test material: fixtures/make.sh.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createTcpClient } from '../../../src/transports/tcp/client.js';
import { failure, startServer } from './helpers.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const ca = fixture('ca.crt');
const serverTls = { key: fixture('server.key'), cert: fixture('server.crt') };
const clientCert = { key: fixture('client.key'), cert: fixture('client.crt') };
const echo = async (b: unknown) => b;

const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

describe('tcp over TLS', () => {
  it('serves tls:// to a client that trusts its CA, with a token', async () => {
    const env = await startServer({ echo }, { tls: serverTls, token: 'secret' });
    opened.push({ close: () => env.server.stop() });
    expect(env.server.address()).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const client = createTcpClient({ tls: { ca }, token: 'secret' });
    opened.push(client);
    expect(await client.request(env.target('echo'), { over: 'tls' })).toEqual({ over: 'tls' });
    const stream: unknown[] = [];
    for await (const c of client.call(env.target('echo'), [1, 2])) stream.push(c);
    expect(stream).toEqual([[1, 2]]);
  });

  it('refuses a server whose certificate the client does not trust', async () => {
    const env = await startServer({ echo }, { tls: serverTls });
    opened.push({ close: () => env.server.stop() });
    const client = createTcpClient();
    opened.push(client);
    const err = await failure(client.request(env.target('echo'), 1));
    expect(err.code).toBe('WARDEN_CONNECTION_FAILED');
    expect(err.message).toMatch(/certificate/i);
    expect(env.server.isHealthy()).toBe(true);
  });

  it('requires a client certificate when requestCert is set', async () => {
    const env = await startServer({ echo }, { tls: { ...serverTls, ca, requestCert: true } });
    opened.push({ close: () => env.server.stop() });
    const anonymous = createTcpClient({ tls: { ca } });
    const known = createTcpClient({ tls: { ca, ...clientCert } });
    opened.push(anonymous, known);
    const err = await failure(anonymous.request(env.target('echo'), 1));
    expect(err.code).toMatch(/WARDEN_CONNECTION_(FAILED|CLOSED)/);
    expect(await known.request(env.target('echo'), 'mutual')).toBe('mutual');
  });

  it('closes a plain-TCP client that dials a TLS server, and stays healthy', async () => {
    const env = await startServer({ echo }, { tls: serverTls });
    opened.push({ close: () => env.server.stop() });
    const plain = createTcpClient({ connectTimeoutMs: 2000 });
    opened.push(plain);
    const address = env.server.address().replace('tls://', 'tcp://');
    const err = await failure(plain.request({ ...env.target('echo'), address }, 1));
    expect(err.code).toMatch(/WARDEN_CONNECTION_(FAILED|CLOSED)/);
    expect(env.server.isHealthy()).toBe(true);
  });
});
