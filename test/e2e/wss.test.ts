import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken, type Device, type Relay } from '../../src/index.js';
import { defer, selfSignedCertificate } from '../support/index.js';

const SECRET = 'wss-secret-of-32-bytes-or-more!!';
describe('a relay whose device endpoint is wss://', () => {
  it('serves a device that trusts the relay certificate through `ca`, and refuses one that does not', async () => {
    // The relay's own certificate, for the IP the device dials: a private CA as far as Node knows.
    const pems = await selfSignedCertificate('127.0.0.1', { ip: true });
    const local: Server = createServer((_req, res) => res.end('over wss'));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => local.close(() => resolve())));
    const relay: Relay = await createRelay({
      listen: '127.0.0.1:0',
      tunnel: '127.0.0.1:0',
      secret: SECRET,
      tunnelTls: { key: pems.key, cert: pems.cert },
    });
    defer(() => relay.close());
    expect(relay.tunnelUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const token = await issueToken(SECRET, { domains: ['secure.localhost'] });
    const forwards = [`http:secure.localhost=127.0.0.1:${(local.address() as AddressInfo).port}`];

    const untrusting: Device = createDevice({ relay: relay.tunnelUrl, token, forwards, reconnect: false });
    defer(() => untrusting.close());
    await expect(untrusting.online()).rejects.toMatchObject({
      code: 'E_RELAY_UNREACHABLE',
      message: expect.stringMatching(/its certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): give the CA that signed it/),
    });

    const device: Device = createDevice({ relay: relay.tunnelUrl, token, forwards, ca: pems.cert, reconnect: false });
    defer(() => device.close());
    await device.online();
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: relay.addresses.public.port, headers: { host: 'secure.localhost' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('over wss');
  });
});

describe('a device that dials wss:// to a ws:// relay', () => {
  it('says the relay does not speak TLS there', async () => {
    const relay: Relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());
    const token = await issueToken(SECRET, { domains: ['plain.localhost'] });
    const device: Device = createDevice({ relay: relay.tunnelUrl.replace('ws://', 'wss://'), token, forwards: ['http:plain.localhost=1'], reconnect: false });
    defer(() => device.close());
    await expect(device.online()).rejects.toMatchObject({
      code: 'E_RELAY_UNREACHABLE',
      message: expect.stringMatching(/^cannot reach the relay at wss:\/\/127\.0\.0\.1:\d+: it does not speak TLS on that port \(a ws:\/\/ endpoint\?\)$/),
    });
  });
});
