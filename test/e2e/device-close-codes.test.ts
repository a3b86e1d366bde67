import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { defer, memoryLogger, SECRET, startRelay } from '../support/index.js';
import { createDevice, issueToken, type Device } from '../../src/index.js';

describe('device and the relay close code', () => {
  it('stops with E_AUTH_REFUSED, without reconnecting, when the relay closes with 4401', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
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
    defer(() => device.close());
    const closed = await firstValueFrom(device.closed$);
    expect(closed.error).toMatchObject({ code: 'E_AUTH_REFUSED' });
    expect(connections).toBe(1);
  });
});

describe('device keepalive', () => {
  it('drops a relay that stops answering pings, and reconnects', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    defer(
      () =>
        new Promise<void>((resolve) => {
          // The silent connection would keep the server from closing.
          for (const client of server.clients) client.terminate();
          server.close(() => resolve());
        }),
    );
    let connections = 0;
    const log = memoryLogger();
    server.on('connection', (ws, req) => {
      connections += 1;
      // The first relay connection goes silent: it reads nothing more, so pings get no pong.
      if (connections === 1) req.socket.pause();
      else ws.send(Buffer.alloc(0));
    });
    const device: Device = createDevice({
      relay: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 'any',
      forwards: ['http:a.localhost=1'],
      keepalive: { interval: 50, timeout: 100 },
      reconnect: { initialDelay: 5, maxDelay: 10 },
      logger: log,
    });
    defer(() => device.close());
    const states: string[] = [];
    device.state$.subscribe((state) => states.push(state));
    await firstValueFrom(device.state$.pipe(filter((state) => state === 'offline')));
    await new Promise<void>((resolve) => server.once('connection', () => resolve()));
    expect(connections).toBe(2);
    expect(states.slice(0, 3)).toEqual(['connecting', 'offline', 'connecting']);
    // It had connected: the drop is a lost connection, not a failure to connect.
    const warnings = log.entries.filter((entry) => entry.level === 'warn').map((entry) => entry.message);
    expect(warnings[0]).toBe('relay connection lost; reconnecting');
  });
});

describe('device and a relay that shuts down', () => {
  it('hears a close frame (1001) and says the relay is shutting down, then reconnects', async () => {
    const relay = await startRelay();
    const log = memoryLogger();
    const device: Device = createDevice({
      relay: relay.tunnelUrl,
      token: await issueToken(SECRET, { domains: ['a.localhost'] }),
      forwards: ['http:a.localhost=1'],
      reconnect: { initialDelay: 5, maxDelay: 10 },
      logger: log,
    });
    defer(() => device.close());
    await device.online();
    await relay.close();
    await firstValueFrom(device.state$.pipe(filter((state) => state === 'offline')));
    const lost = log.entries.find((entry) => entry.level === 'warn');
    expect(lost).toMatchObject({
      message: 'relay connection lost; reconnecting',
      context: { err: 'the relay connection closed: the relay is shutting down (E_RELAY_CLOSED)' },
    });
  });
});
