import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken, type Device, type Relay } from '../../src/index.js';
import { defer, memoryLogger } from '../support/index.js';

const SECRET = 'expiry-secret-of-32-bytes-or-more';
function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('token expiry on a connected device', () => {
  it('releases the name when the token expires, then closes the device after the grace (4401, not retried)', async () => {
    const local: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => local.close(() => resolve())));
    const relay: Relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, tokenGrace: 100 });
    defer(() => relay.close());
    // `exp` is in whole seconds: 2 s from now leaves at least one second of validity.
    const token = await issueToken(SECRET, { domains: ['short.localhost'] }, { expiresIn: 2 });
    const log = memoryLogger();
    const device: Device = createDevice({
      relay: relay.tunnelUrl,
      token,
      logger: log,
      forwards: [`http:short.localhost=127.0.0.1:${(local.address() as AddressInfo).port}`],
      reconnect: { initialDelay: 10, maxDelay: 20 },
    });
    defer(() => device.close());
    await device.online();
    expect(await get(relay.addresses.public.port, 'short.localhost')).toBe(200);
    const closed = await firstValueFrom(device.closed$);
    // The device warned before the expiry (a tenth of the life ahead), then said it expired.
    const said = log.entries.filter((entry) => entry.level === 'warn').map((entry) => entry.message);
    const expiresAt = new Date(JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp * 1000).toISOString();
    expect(said).toContain(`the token expires at ${expiresAt}: give the device a new one before then`);
    expect(said).toContain(`the token expired at ${expiresAt}: the relay no longer routes its names and ports`);
    expect(said.indexOf(`the token expired at ${expiresAt}: the relay no longer routes its names and ports`)).toBeGreaterThan(
      said.indexOf(`the token expires at ${expiresAt}: give the device a new one before then`),
    );
    expect(closed.error).toMatchObject({ code: 'E_TOKEN_EXPIRED', message: expect.stringMatching(/^the relay refused the token: it expired at \d{4}-/) });
    // The device hears the close first; the relay forgets the session when its side closes.
    for (let turns = 0; relay.deviceCount > 0 && turns < 10_000; turns++) await new Promise((resolve) => setImmediate(resolve));
    expect(relay.deviceCount).toBe(0);
    expect(await get(relay.addresses.public.port, 'short.localhost')).toBe(502);
  });
});
