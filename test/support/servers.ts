/**
 * Servers, a relay, a device and visitors on 127.0.0.1, each registered with {@link defer} so
 * that the test's clean-up closes it.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { createDevice, createRelay, type Device, type DeviceOptions, type Relay, type RelayOptions } from '../../src/index.js';
import { defer } from './cleanup.js';

/** The relay secret of the suite's relays (32 bytes or more, as a relay requires). */
export const SECRET = 'test-suite-secret-of-32-bytes-or-more';

/** Listens on 127.0.0.1:`port`; at cleanup destroys every connection it took and closes. */
export async function serve(server: net.Server, port = 0): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  defer(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, sockets };
}

/** A TCP echo service (half-close aware); `received()` counts the bytes of all its connections. */
export async function echoServer(): Promise<{ port: number; sockets: Set<net.Socket>; received(): number }> {
  let received = 0;
  const served = await serve(
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.pipe(socket);
    }),
  );
  return { ...served, received: () => received };
}

export async function startRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => relay.close());
  return relay;
}

export async function startDevice(relay: Relay | string, options: Omit<DeviceOptions, 'relay'>): Promise<Device> {
  const device = createDevice({ relay: typeof relay === 'string' ? relay : relay.tunnelUrl, reconnect: false, ...options });
  defer(() => device.close());
  await device.online();
  return device;
}

/**
 * A visitor that writes `data`, ends, and reads everything back; resolves with the sha256 of
 * what came back once its socket has closed.
 */
export function echoVisit(port: number, data: Buffer): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const hash = createHash('sha256');
    let length = 0;
    let ended = false;
    socket.on('connect', () => socket.end(data));
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    socket.on('end', () => (ended = true));
    socket.on('error', reject);
    socket.on('close', () => {
      if (ended) resolve({ hash: hash.digest('hex'), length });
      else reject(new Error(`echo visitor closed before the end (${length} of ${data.length} bytes back)`));
    });
  });
}

