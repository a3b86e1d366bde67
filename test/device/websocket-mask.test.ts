import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createDevice, issueToken } from '../../src/index.js';
import { defer, selfSignedCertificate, within } from '../support/index.js';

const SECRET = 'mask-secret-of-32-bytes-or-more!!';

/**
 * A stand-in relay that accepts the device's WebSocket and hands back the masking key of the
 * first frame the device sends (a keepalive ping), read from the bytes under the WebSocket
 * (decrypted, for wss://).
 */
async function firstMaskKey(server: HttpServer, scheme: 'ws' | 'wss', ca?: string): Promise<Buffer> {
  const wss = new WebSocketServer({ noServer: true });
  defer(async () => wss.close());
  const key = new Promise<Buffer>((resolve, reject) => {
    server.on('upgrade', (request, socket: Socket, head) => {
      let seen = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        seen = Buffer.concat([seen, chunk]);
        if (seen.length < 2) return;
        if ((seen[1]! & 0x80) === 0) reject(new Error('the device sent an unmasked frame'));
        // A ping's payload is at most 125 bytes: the key follows the two header bytes.
        if (seen.length >= 6) resolve(seen.subarray(2, 6));
      });
      wss.handleUpgrade(request, socket, head, () => undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const token = await issueToken(SECRET, { domains: ['mask.localhost'] });
  const device = createDevice({
    relay: `${scheme}://127.0.0.1:${port}`,
    token,
    forwards: ['http:mask.localhost=127.0.0.1:9'],
    ca,
    reconnect: false,
    keepalive: { interval: 20, timeout: 5_000 },
  });
  defer(() => device.close());
  return within(key, 5_000, `the device's first frame over ${scheme}://`);
}

describe("the device's WebSocket masking", () => {
  it('masks with random keys over ws://, where intermediaries may read the frames', async () => {
    const key = await firstMaskKey(createHttpServer(), 'ws');
    expect(key.equals(Buffer.alloc(4))).toBe(false);
  });

  it('sends an all-zero key over wss://, so that no byte is copied or XORed on either end', async () => {
    const pems = await selfSignedCertificate('127.0.0.1', { ip: true });
    const key = await firstMaskKey(createHttpsServer({ key: pems.key, cert: pems.cert }), 'wss', pems.cert);
    expect([...key]).toEqual([0, 0, 0, 0]);
  });
});

describe('ws masking in native code', () => {
  it('has bufferutil, the optional dependency ws masks and unmasks with', async () => {
    const { createRequire } = await import('node:module');
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask: unknown; unmask: (buffer: Buffer, mask: Buffer) => void };
    // Its JavaScript fallback would be a loop per byte, the cost the dependency is there to remove.
    expect(String(bufferutil.unmask)).toContain('[native code]');
    const bytes = Buffer.alloc(64, 0x5a);
    bufferutil.unmask(bytes, Buffer.from([0x5a, 0x5a, 0x5a, 0x5a]));
    expect(bytes.equals(Buffer.alloc(64))).toBe(true);
  });
});
