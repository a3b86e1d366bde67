import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken, type Device, type Relay } from '../../src/index.js';

const SECRET = 'test-secret';
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function httpGet(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

describe('relay + device smoke', () => {
  it('serves HTTP by Host through the tunnel', async () => {
    const local: Server = createServer((req, res) => res.end(`hello from ${req.headers.host}`));
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => local.close(() => r())));
    const relay: Relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    cleanup.push(() => relay.close());
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const port = (local.address() as { port: number }).port;
    const device: Device = createDevice({ relay: relay.tunnelUrl, token, forwards: [`http:app.localhost=127.0.0.1:${port}`] });
    cleanup.push(() => device.close());
    await device.online();
    const reply = await httpGet(relay.addresses.public.port, 'app.localhost');
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain('hello from app.localhost');
    const missing = await httpGet(relay.addresses.public.port, 'other.localhost');
    expect(missing).toMatch(/^HTTP\/1.1 502/);
  });
});
