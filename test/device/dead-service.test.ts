/**
 * A forward whose local service is down: HTTP visitors get a 502 page that names the name (not
 * the local address), TLS and TCP visitors a clean close, and the device warns once per burst.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDevice, createRelay, issueToken } from '../../src/index.js';
import { FailureLimiter } from '../../src/device/failure-log.js';
import { expiryWarningAt } from '../../src/device/token-claims.js';
import { defer, captureClientHello, freePort, httpGet, memoryLogger } from '../support/index.js';

const SECRET = 'dead-service-secret-of-32-bytes-or-more';
/** Sends `bytes`, then resolves with what came back and whether the socket closed with a reset. */
function visit(port: number, bytes: Buffer): Promise<{ received: Buffer; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    let reset = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => (reset = error.code === 'ECONNRESET'));
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), reset }));
  });
}

describe('a dead local service', () => {
  it('gives HTTP visitors a 502 page naming the name, TLS and TCP visitors a clean close, and logs one warning per burst', async () => {
    const tcpPort = await freePort();
    const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, tcpPorts: String(tcpPort) });
    defer(() => relay.close());
    const dead = await freePort();
    const log = memoryLogger();
    const token = await issueToken(SECRET, { domains: ['dead.localhost', 'tls.localhost'], ports: [tcpPort] });
    const device = createDevice({
      relay: relay.tunnelUrl,
      token,
      forwards: [`http:dead.localhost=127.0.0.1:${dead}`, `https:tls.localhost=127.0.0.1:${dead}`, `tcp:${tcpPort}=127.0.0.1:${dead}`],
      logger: log,
    });
    defer(() => device.close());
    await device.online();
    const port = relay.addresses.public.port;

    // A burst of 20 HTTP visitors: each gets the page; the device says it once.
    const replies = await Promise.all(Array.from({ length: 20 }, () => httpGet(port, 'dead.localhost')));
    for (const reply of replies) {
      expect(reply).toMatch(/^HTTP\/1.1 502 Bad Gateway\r\n/);
      expect(reply).toContain('dead.localhost');
      expect(reply).not.toContain(String(dead));
    }
    const warnings = () => log.entries.filter((entry) => entry.level === 'warn' && /local service/.test(entry.message));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ context: { code: 'ECONNREFUSED', target: `127.0.0.1:${dead}` } });
    expect(warnings()[0]?.message).toContain(`local service 127.0.0.1:${dead} for http dead.localhost failed`);

    // TLS and TCP: closed without a byte and without a reset; each forward has its own warning.
    const tls = await visit(port, await captureClientHello('tls.localhost'));
    expect(tls).toEqual({ received: Buffer.alloc(0), reset: false });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const tcp = await visit(tcpPort, Buffer.from('hello'));
    expect(tcp).toEqual({ received: Buffer.alloc(0), reset: false });
    expect(warnings()).toHaveLength(3);
    expect(device.state).toBe('online');
  });
});

describe('FailureLimiter', () => {
  it('lets the first failure of a burst through, then one per window with the count held back', () => {
    let now = 0;
    const limiter = new FailureLimiter<string>(10_000, () => now);
    expect(limiter.failed('a')).toEqual({ suppressed: 0 });
    for (let i = 0; i < 99; i++) expect(limiter.failed('a')).toBeUndefined();
    // Another forward has its own count.
    expect(limiter.failed('b')).toEqual({ suppressed: 0 });
    now = 9_999;
    expect(limiter.failed('a')).toBeUndefined();
    now = 10_000;
    expect(limiter.failed('a')).toEqual({ suppressed: 100 });
    now = 30_000;
    expect(limiter.failed('a')).toEqual({ suppressed: 0 });
  });
});

describe('expiryWarningAt', () => {
  const at = (ms: number): Date => new Date(Date.UTC(2026, 0, 1) + ms);
  it('warns a tenth of the life before the expiry, at most a day before, never for a token without exp', () => {
    const hour = 3_600_000;
    const day = 24 * hour;
    expect(expiryWarningAt({ issuedAt: at(0), expiresAt: at(10 * hour) }, at(0))).toEqual(at(9 * hour));
    expect(expiryWarningAt({ issuedAt: at(0), expiresAt: at(30 * day) }, at(0))).toEqual(at(29 * day));
    // No iat: the life counts from now.
    expect(expiryWarningAt({ expiresAt: at(10 * hour) }, at(5 * hour))).toEqual(at(9.5 * hour));
    expect(expiryWarningAt({ issuedAt: at(0) }, at(0))).toBeUndefined();
  });
});
