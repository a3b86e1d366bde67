/**
 * `tunnelAcme`: the relay gets a certificate for its own name over ACME (tls-alpn-01 on its
 * visitor listener), then serves its device endpoint as wss://NAME with it, on the tunnel
 * listener and on the visitor listener alike.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createRelay, issueToken } from '../../src/index.js';
import { defer, freePort, memoryLogger, within } from '../support/index.js';
import { createPebble, lookupLoopback, startChallTestSrv, type ChallTestSrv } from '../support/pebble.js';

const SECRET = 'relay-acme-secret-of-32-bytes-or-more';
let dns: ChallTestSrv;
beforeAll(async () => {
  dns = await startChallTestSrv();
});
afterAll(async () => {
  await dns?.stop();
});

/** Opens a WebSocket to `url` (every name is 127.0.0.1) trusting `ca`; resolves 'open' or the error's code. */
function tryWss(url: string, ca: string, token: string): Promise<string> {
  return new Promise((resolve) => {
    const target = new URL(url);
    target.searchParams.set('access_token', token);
    const ws = new WebSocket(target, {
      ca,
      lookup: lookupLoopback,
    } as never);
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('a relay with --tunnel-acme', () => {
  it('obtains a certificate for its own name through its visitor listener and serves wss:// with it', async () => {
    const name = 'relay.example.test';
    const visitorPort = await freePort();
    const pebble = await createPebble(visitorPort, dns.dnsPort);
    defer(() => pebble.stop());
    await pebble.start();
    const log = memoryLogger();
    const relay = await createRelay({
      listen: `127.0.0.1:${visitorPort}`,
      tunnel: '127.0.0.1:0',
      secret: SECRET,
      tunnelAcme: { name, email: 'ops@example.test', directory: pebble.directory, ca: pebble.ca, certDir: mkdtempSync(join(tmpdir(), 'mproxy-relay-acme-')) },
      logger: log,
    });
    defer(() => relay.close());
    expect(relay.tunnelUrl).toBe(`wss://${name}:${relay.addresses.tunnel.port}`);
    const issued = new Promise<void>((resolve) => relay.certificates?.onCertificate(() => resolve()));
    await within(issued, 20_000, "the relay's certificate").catch((error: unknown) => {
      console.log(log.entries.map((entry) => `${entry.message} ${JSON.stringify(entry.context)}`).join('\n'));
      throw error;
    });
    const root = await pebble.root();
    const token = await issueToken(SECRET, { domains: ['app.example.test'] });
    expect(await tryWss(relay.tunnelUrl, root, token)).toBe('open');
    expect(await tryWss(`wss://${name}:${visitorPort}`, root, token)).toBe('open');
    expect(log.entries.filter((entry) => entry.message === 'answering an ACME challenge').map((entry) => entry.context.challenge)).toEqual(['tls-alpn-01']);
  });
});
