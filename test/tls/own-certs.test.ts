/**
 * Certificates the user brings (`--cert`), and `https:NAME=tcp://…` (TLS terminated, the
 * decrypted bytes passed on): through a real relay and device.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken } from '../../src/index.js';
import { defer, freePort, listen, memoryLogger, selfSignedCertificate, until, within } from '../support/index.js';

const SECRET = 'own-certs-secret-of-32-bytes-or-more';

/** Connects through the relay trusting only `ca`, sends `text`, resolves with the reply and the certificate's serial. */
function exchange(port: number, name: string, ca: string, text: string, halfClose = true): Promise<{ reply: string; serial: string }> {
  return new Promise((resolve, reject) => {
    // Without the half-close, the reply ends when the server closes (an HTTP `Connection: close`).
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: name, ca }, () => (halfClose ? socket.end(text) : socket.write(text)));
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    socket.on('end', () => resolve({ reply, serial: socket.getPeerX509Certificate()?.serialNumber ?? '' }));
    socket.on('error', reject);
  });
}

describe('certificates you bring, and tcp:// behind a terminated name', () => {
  it('serves --cert for a wildcard, passes decrypted bytes to a tcp:// target, and reloads the certificate when its files change', async () => {
    const upper = createServer((socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk.toString().toUpperCase()));
      socket.on('end', () => socket.end());
    });
    const appPort = await listen(upper, defer);
    const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());

    const dir = mkdtempSync(join(tmpdir(), 'mproxy-own-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const first = await selfSignedCertificate('*.own.example');
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    const log = memoryLogger();
    const device = createDevice({
      relay: relay.tunnelUrl,
      token: await issueToken(SECRET, { domains: ['*.own.example'] }),
      forwards: [`https:*.own.example=tcp://127.0.0.1:${appPort}`],
      tls: { certs: [`*.own.example=${certFile},${keyFile}`], certPollInterval: 20 },
      logger: log,
    });
    defer(() => device.close());
    await device.online();

    const port = relay.addresses.public.port;
    const before = await within(exchange(port, 'a.own.example', first.cert, 'hello'), 5_000, 'an exchange');
    expect(before.reply).toBe('HELLO');

    const second = await selfSignedCertificate('*.own.example');
    const reloaded = new Promise<string>((resolve) => device.certificates?.onCertificate((served) => resolve(served.serial)));
    // Key first, then certificate: the pair in between does not load, and is not served.
    writeFileSync(keyFile, second.key);
    writeFileSync(certFile, second.cert);
    const serial = await within(reloaded, 10_000, 'the reload');
    const after = await within(exchange(port, 'b.own.example', second.cert, 'again'), 5_000, 'an exchange after the reload');
    expect(after).toEqual({ reply: 'AGAIN', serial });
    expect(after.serial).not.toBe(before.serial);
    await until(() => log.entries.some((entry) => entry.message === 'certificate reloaded'), 'the reload logged');
  });

  it('answers 502 when the app behind an http:// target does not answer, and keeps serving', async () => {
    const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());
    const dir = mkdtempSync(join(tmpdir(), 'mproxy-own-'));
    const pems = await selfSignedCertificate('down.own.example');
    writeFileSync(join(dir, 'cert.pem'), pems.cert);
    writeFileSync(join(dir, 'key.pem'), pems.key);
    const closedPort = await freePort();
    const device = createDevice({
      relay: relay.tunnelUrl,
      token: await issueToken(SECRET, { domains: ['down.own.example'] }),
      forwards: [`https:down.own.example=http://127.0.0.1:${closedPort}`],
      tls: { certs: [`down.own.example=${join(dir, 'cert.pem')},${join(dir, 'key.pem')}`] },
    });
    defer(() => device.close());
    await device.online();
    for (let i = 0; i < 2; i++) {
      const answer = await within(exchange(relay.addresses.public.port, 'down.own.example', pems.cert, 'GET / HTTP/1.1\r\nHost: down.own.example\r\nConnection: close\r\n\r\n', false), 5_000, 'an answer');
      expect(answer.reply).toMatch(/^HTTP\/1\.1 502 /);
    }
  });
});
