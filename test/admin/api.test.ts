import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createAdminServer, issueToken } from '../../src/index.js';
import { SECRET, defer, echoServer, startDevice, startRelay, tryUpgrade, until } from '../support/index.js';
import { call } from './helpers.js';

describe('the admin API', () => {
  it('refuses /metrics and the API without the token when not on loopback, and will not start there without one', async () => {
    const relay = await startRelay({ metrics: true });
    await expect(createAdminServer({ listen: '0.0.0.0:0', relay })).rejects.toMatchObject({ code: 'E_ADMIN_TOKEN_REQUIRED' });
    const admin = await createAdminServer({ listen: '0.0.0.0:0', relay, token: 'admin-secret' });
    defer(() => admin.close());
    const url = `http://127.0.0.1:${admin.address.port}`;
    for (const path of ['/metrics', '/api/devices', '/', '/api/events']) {
      expect((await call(`${url}${path}`)).status, path).toBe(401);
      expect((await call(`${url}${path}`, { token: 'wrong' })).status, path).toBe(401);
    }
    expect((await call(`${url}/api/devices/device-1`, { method: 'DELETE' })).status).toBe(401);
    const metrics = await call(`${url}/metrics`, { token: 'admin-secret' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('mproxy_devices_connected 0');
    expect((await call(`${url}/api/devices?token=admin-secret`)).status).toBe(200);
  });

  it('lists devices with their clients, drops a device, and revokes a token by jti', async () => {
    const relay = await startRelay({ metrics: true, tokenGrace: 60_000 });
    const admin = await createAdminServer({ listen: '127.0.0.1:0', relay });
    defer(() => admin.close());
    const echo = await echoServer();
    const first = await issueToken(SECRET, { domains: ['one.localhost'], jti: 'token-one' });
    const second = await issueToken(SECRET, { domains: ['two.localhost'], jti: 'token-two' });
    const one = await startDevice(relay, { token: first, forwards: [`http:one.localhost=127.0.0.1:${echo.port}`] });
    const two = await startDevice(relay, { token: second, forwards: [`http:two.localhost=127.0.0.1:${echo.port}`] });
    // A client open on device one, for the listing.
    const visitor = net.connect({ host: '127.0.0.1', port: relay.addresses.public.port });
    defer(() => void visitor.destroy());
    // Reset when its device is dropped below.
    visitor.on('error', () => undefined);
    visitor.write('GET / HTTP/1.1\r\nHost: one.localhost\r\n\r\n');
    await until(() => relay.clientCount === 1, 'the visitor reaching the device');

    const listed = JSON.parse((await call(`${admin.url}/api/devices`)).body) as {
      id: string;
      names: string[];
      address: string;
      connectedAt: string;
      tokens: { jti: string }[];
      clients: { visitor: { address: string; port: number }; bytesOut: number; ageMs: number }[];
    }[];
    expect(listed.map((d) => d.names)).toEqual([['one.localhost'], ['two.localhost']]);
    expect(listed[0]?.tokens).toMatchObject([{ jti: 'token-one' }]);
    expect(listed[0]?.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Date.parse(listed[0]?.connectedAt ?? '')).toBeGreaterThan(0);
    expect(listed[0]?.clients).toMatchObject([{ visitor: { address: '127.0.0.1', port: visitor.localPort } }]);
    expect(listed[0]?.clients[0]?.bytesOut).toBeGreaterThan(0);

    // DELETE a device: its tunnel closes (the device, without reconnect, stops).
    expect((await call(`${admin.url}/api/devices/${listed[0]?.id ?? ''}`, { method: 'DELETE' })).status).toBe(200);
    await until(() => one.state === 'closed', 'device one dropped');
    expect((await call(`${admin.url}/api/devices/nope`, { method: 'DELETE' })).status).toBe(404);

    // DELETE a token: device two is dropped, and the token is refused from then on.
    const revoked = JSON.parse((await call(`${admin.url}/api/tokens/token-two`, { method: 'DELETE' })).body) as { disconnected: string[] };
    expect(revoked.disconnected).toEqual([listed[1]?.id]);
    await until(() => two.state === 'closed', 'device two dropped');
    expect(await tryUpgrade(relay.tunnelUrl, second)).toMatchObject({ status: 401, body: { code: 'E_TOKEN_REVOKED' } });
    expect(await tryUpgrade(relay.tunnelUrl, first)).toBe('open');
    const metrics = (await call(`${admin.url}/metrics`)).body;
    expect(metrics).toMatch(/mproxy_refusals_total\{reason="bad_token",code="E_TOKEN_REVOKED"\} 1/);
  });
});
