import type { AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevice, type Device } from '../../src/index.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('device and the relay close code', () => {
  it('stops with E_AUTH_REFUSED, without reconnecting, when the relay closes with 4401', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    let connections = 0;
    server.on('connection', (ws) => {
      connections += 1;
      ws.close(4401, 'no valid token');
    });
    const device: Device = createDevice({
      relay: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 'any',
      forwards: ['http:a.localhost=1'],
      reconnect: { initialDelay: 5, maxDelay: 10 },
    });
    cleanup.push(() => device.close());
    const closed = await firstValueFrom(device.closed$);
    expect(closed.error).toMatchObject({ code: 'E_AUTH_REFUSED' });
    expect(connections).toBe(1);
  });
});
