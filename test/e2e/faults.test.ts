/**
 * Faults: a device dropped mid-transfer, a relay restarted, a device that stops answering pings.
 * Visitors of a dropped device must be closed promptly, and devices must come back by themselves.
 */
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createDevice, createRelay, issueToken, type Device, type DeviceState, type Relay } from '../../src/index.js';
import { defer, httpGet, listen, until, within } from '../support/index.js';

const SECRET = 'faults-secret-of-32-bytes-or-more';
// Helpers

/**
 * A local HTTP service: `/big` streams 64 KiB chunks for as long as the visitor reads (it never
 * ends by itself), anything else answers `hello from <host>`.
 */
async function localService(): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server = createHttpServer((req, res) => {
    if (req.url !== '/big') return void res.end(`hello from ${req.headers.host ?? '?'}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    pump();
  });
  return listen(server, defer);
}

/** A visitor downloading `/big`: resolves `started` once 256 KiB arrived, `closed` when its socket closes. */
function download(port: number, host: string): { started: Promise<void>; closed: Promise<number>; socket: Socket } {
  const socket = connect(port, '127.0.0.1', () => socket.write(`GET /big HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
  socket.on('error', () => undefined);
  defer(() => void socket.destroy());
  let received = 0;
  const started = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= 256 * 1024) resolve();
    });
  });
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(received)));
  return { started, closed, socket };
}

/** A TCP forwarder in front of the relay's tunnel port, whose connections a test can cut. */
async function cuttable(targetPort: number): Promise<{ url: string; cut(): void; connections: () => number }> {
  const pairs = new Set<[Socket, Socket]>();
  const server = createTcpServer((inbound) => {
    const outbound = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
    inbound.pipe(outbound).pipe(inbound);
    const forget = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('close', forget);
    outbound.on('close', forget);
  });
  const port = await listen(server, defer);
  defer(() => {
    for (const [a, b] of pairs) a.destroy(), b.destroy();
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    cut: () => {
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
    },
    connections: () => pairs.size,
  };
}

function record(device: Device): DeviceState[] {
  const states: DeviceState[] = [];
  const subscription = device.state$.subscribe((state) => states.push(state));
  defer(() => subscription.unsubscribe());
  return states;
}

/** Resolves when the device is online again after having gone offline. */
function backOnline(device: Device): Promise<void> {
  return firstValueFrom(device.state$.pipe(filter((s) => s === 'offline'))).then(() => device.online());
}

async function startRelay(options: Partial<Parameters<typeof createRelay>[0]> = {}): Promise<Relay> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => relay.close());
  return relay;
}

function startDevice(relayUrl: string, token: string, localPort: number, extra: Partial<Parameters<typeof createDevice>[0]> = {}): Device {
  const device = createDevice({
    relay: relayUrl,
    token,
    forwards: [`http:app.localhost=127.0.0.1:${localPort}`],
    reconnect: { initialDelay: 50, maxDelay: 200 },
    ...extra,
  });
  defer(() => device.close());
  return device;
}

// Tests

describe('faults: a device dropped mid-transfer', () => {
  it('closes the visitor promptly when the device is closed, then serves from a new device', async () => {
    const relay = await startRelay();
    const local = await localService();
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = startDevice(relay.tunnelUrl, token, local);
    await device.online();

    const visitor = download(relay.addresses.public.port, 'app.localhost');
    await within(visitor.started, 5000, 'the download to start');
    await device.close();
    const received = await within(visitor.closed, 2000, "the visitor's close");
    expect(received).toBeGreaterThanOrEqual(256 * 1024);
    await until(() => relay.deviceCount === 0, 'the relay to forget the device');

    const again = startDevice(relay.tunnelUrl, token, local);
    await again.online();
    expect(await httpGet(relay.addresses.public.port, 'app.localhost')).toContain('hello from app.localhost');
  });

  it('closes the visitor when the tunnel connection is cut, and the device reconnects by itself', async () => {
    const relay = await startRelay();
    const local = await localService();
    const proxy = await cuttable(relay.addresses.tunnel.port);
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = startDevice(proxy.url, token, local);
    const states = record(device);
    await device.online();

    const visitor = download(relay.addresses.public.port, 'app.localhost');
    await within(visitor.started, 5000, 'the download to start');
    const back = backOnline(device);
    proxy.cut();
    await within(visitor.closed, 2000, "the visitor's close");
    await within(back, 5000, 'the device to come back');
    expect(states).toEqual(['connecting', 'online', 'offline', 'connecting', 'online']);
    await until(() => relay.deviceCount === 1, 'the relay to count one device');
    expect(await httpGet(relay.addresses.public.port, 'app.localhost')).toContain('hello from app.localhost');

    // And once more: the backoff resets after a successful connection.
    const again = backOnline(device);
    proxy.cut();
    await within(again, 5000, 'the device to come back a second time');
    expect(await httpGet(relay.addresses.public.port, 'app.localhost')).toContain('hello from app.localhost');
  });

  it('closes the visitor when the device terminates its own WebSocket, and reconnects', async () => {
    const relay = await startRelay();
    const local = await localService();
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = startDevice(relay.tunnelUrl, token, local);
    await device.online();
    const visitor = download(relay.addresses.public.port, 'app.localhost');
    await within(visitor.started, 5000, 'the download to start');
    const back = backOnline(device);
    device.tunnel?.destroy();
    await within(visitor.closed, 2000, "the visitor's close");
    await within(back, 5000, 'the device to come back');
    expect(await httpGet(relay.addresses.public.port, 'app.localhost')).toContain('hello from app.localhost');
  });
});

describe('faults: the relay restarts', () => {
  it('the device comes back by itself to a relay restarted on the same ports', async () => {
    const first = await startRelay();
    const publicPort = first.addresses.public.port;
    const tunnelPort = first.addresses.tunnel.port;
    const local = await localService();
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = startDevice(first.tunnelUrl, token, local);
    const states = record(device);
    await device.online();
    expect(await httpGet(publicPort, 'app.localhost')).toContain('hello from app.localhost');

    const offline = firstValueFrom(device.state$.pipe(filter((s) => s === 'offline')));
    await first.close();
    await within(offline, 2000, 'the device to notice the relay is gone');
    const second = await startRelay({ listen: `127.0.0.1:${publicPort}`, tunnel: `127.0.0.1:${tunnelPort}` });
    await within(device.online(), 5000, 'the device to come back');

    // online → offline → connecting → (offline → connecting)* → online
    const afterFirst = states.slice(states.indexOf('online') + 1);
    expect(afterFirst[0]).toBe('offline');
    expect(afterFirst[1]).toBe('connecting');
    expect(afterFirst.at(-1)).toBe('online');
    expect(afterFirst.slice(0, -1).every((s) => s === 'offline' || s === 'connecting')).toBe(true);
    expect(second.deviceCount).toBe(1);
    expect(await httpGet(publicPort, 'app.localhost')).toContain('hello from app.localhost');
  });
});

describe('faults: keepalive', () => {
  it('drops a device that stops answering pings, and keeps the one that answers', async () => {
    // timeout 250 rather than 100: a loaded event loop must not make the healthy device look dead.
    const relay = await startRelay({ keepalive: { interval: 100, timeout: 250 } });
    const local = await localService();
    const healthy = startDevice(relay.tunnelUrl, await issueToken(SECRET, { domains: ['app.localhost'] }), local);
    await healthy.online();

    const target = new URL(relay.tunnelUrl);
    target.searchParams.set('access_token', await issueToken(SECRET, { domains: ['mute.localhost'] }));
    const ws = new WebSocket(target, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    defer(() => ws.terminate());
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    expect(relay.deviceCount).toBe(2);
    // Stop reading: pings go unread, so no pong comes back (nor an answer to hello).
    ws.pause();
    const started = Date.now();
    await until(() => relay.deviceCount === 1, 'the mute device to be dropped', 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(healthy.state).toBe('online');
    expect(await httpGet(relay.addresses.public.port, 'app.localhost')).toContain('hello from app.localhost');
  });
});
