import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken, type Device, type Relay } from '../../src/index.js';
import { defer, httpGet } from '../support/index.js';

const SECRET = 'test-secret-of-32-bytes-or-more!';
describe('relay + device smoke', () => {
  it('serves HTTP by Host through the tunnel', async () => {
    const local: Server = createServer((req, res) => res.end(`hello from ${req.headers.host}`));
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    defer(() => new Promise<void>((r) => local.close(() => r())));
    const relay: Relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const port = (local.address() as { port: number }).port;
    const device: Device = createDevice({ relay: relay.tunnelUrl, token, forwards: [`http:app.localhost=127.0.0.1:${port}`] });
    defer(() => device.close());
    await device.online();
    const reply = await httpGet(relay.addresses.public.port, 'app.localhost');
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain('hello from app.localhost');
    const missing = await httpGet(relay.addresses.public.port, 'other.localhost');
    expect(missing).toMatch(/^HTTP\/1.1 502/);
  });
});
