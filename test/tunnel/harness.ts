/**
 * What the tunnel acceptance tests share: tunnel pairs over real carriers on 127.0.0.1, local
 * services, visitors, and the bookkeeping that lets every test clean up after itself.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { firstValueFrom, race, map } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { createTunnel, type Client, type ClientClosed, type Tunnel, type TunnelOptions } from '../../src/rx/index.js';
import { fromSocket } from '../../src/transport/socket.js';
import { fromWebSocket } from '../../src/transport/websocket.js';

import type { Defer } from '../support/cleanup.js';

export type { Defer };

/** Two tunnels joined by one carrier; `device` dialled `relay`, as in telebit. */
export interface TunnelPair {
  readonly relay: Tunnel;
  readonly device: Tunnel;
  /** Cuts the device's carrier from under its tunnel (a plain `socket.destroy()` / terminate). */
  killDeviceCarrier(): void;
  /** Same for the relay's carrier. */
  killRelayCarrier(): void;
  /** Settles once both carriers (sockets, WebSockets) have closed. */
  readonly carriersClosed: Promise<void>;
}

export interface Carrier {
  readonly name: string;
  open(defer: Defer, options?: TunnelOptions): Promise<TunnelPair>;
}

/** Listens on an ephemeral port of 127.0.0.1 and registers the close. */
export async function listen(server: Server, defer: Defer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** Destroys a socket at cleanup and resolves once it has closed. */
function closeSocket(socket: Socket): Promise<void> {
  const closed = onClose(socket);
  socket.destroy();
  return closed;
}

export const tcp: Carrier = {
  name: 'TCP',
  async open(defer, options) {
    const server = createServer();
    const port = await listen(server, defer);
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const dialled = connect(port, '127.0.0.1');
    const carriersClosed = onClose(dialled);
    defer(() => closeSocket(dialled));
    const [relaySocket] = await accepted;
    const relayClosed = onClose(relaySocket);
    defer(() => closeSocket(relaySocket));
    const relay = createTunnel(fromSocket(relaySocket), options);
    const device = createTunnel(fromSocket(dialled), options);
    defer(() => relay.destroy());
    defer(() => device.destroy());
    return {
      relay,
      device,
      killDeviceCarrier: () => dialled.destroy(),
      killRelayCarrier: () => relaySocket.destroy(),
      carriersClosed: Promise.all([carriersClosed, relayClosed]).then(() => undefined),
    };
  },
};

export const ws: Carrier = {
  name: 'WebSocket',
  async open(defer, options) {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    // The relay's transport must exist before the first message can arrive: make it in the
    // 'connection' handler itself.
    const relayReady = new Promise<{ socket: WebSocket; tunnel: Tunnel }>((resolve) =>
      server.once('connection', (socket: WebSocket) => {
        void onClose(socket);
        resolve({ socket, tunnel: createTunnel(fromWebSocket(socket), options) });
      }),
    );
    const { port } = server.address() as AddressInfo;
    const dialled = new WebSocket(`ws://127.0.0.1:${port}/`);
    const dialledClosed = onClose(dialled);
    defer(() => terminate(dialled));
    const device = createTunnel(fromWebSocket(dialled), options);
    defer(() => device.destroy());
    const { socket: relaySocket, tunnel: relay } = await relayReady;
    defer(() => terminate(relaySocket));
    defer(() => relay.destroy());
    if (dialled.readyState !== WebSocket.OPEN) await once(dialled, 'open');
    return {
      relay,
      device,
      killDeviceCarrier: () => dialled.terminate(),
      killRelayCarrier: () => relaySocket.terminate(),
      carriersClosed: Promise.all([dialledClosed, onClose(relaySocket)]).then(() => undefined),
    };
  },
};

const closings = new WeakMap<Socket | WebSocket, Promise<void>>();

/**
 * Settles on the 'close' of a socket or WebSocket. The listener is put on by the first call,
 * so call it as soon as the socket exists: a net.Socket reports `closed` a tick before it
 * emits 'close', so "already closed?" cannot be asked reliably later. (Not `events.once`,
 * which rejects on an 'error' before the 'close'.)
 */
export function onClose(socket: Socket | WebSocket): Promise<void> {
  let closing = closings.get(socket);
  if (!closing) {
    closing =
      socket instanceof WebSocket && socket.readyState === WebSocket.CLOSED
        ? Promise.resolve()
        : new Promise<void>((resolve) => socket.once('close', () => resolve()));
    closings.set(socket, closing);
  }
  return closing;
}

function terminate(socket: WebSocket): Promise<void> {
  const closed = onClose(socket);
  socket.terminate();
  return closed;
}

/** A small deterministic generator (xorshift32) for sizes: failures can be replayed by seed. */
export function rng(seed: number): (below: number) => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return (below) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % below;
  };
}

/** A chunk size for "random-sized writes": mostly up to 64 KiB, now and then tiny. */
export function chunkSize(random: (below: number) => number): number {
  return random(8) === 0 ? 1 + random(64) : 1 + random(64 * 1024);
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Settles once the client is finished on both sides. */
export const closedOf = (client: Client): Promise<ClientClosed> => firstValueFrom(client.closed$);

/** Resolves when writing to `client` is welcome again; false if the client closed first. */
export function drained(client: Client): Promise<boolean> {
  return firstValueFrom(
    race(client.drain$.pipe(map(() => true)), client.closed$.pipe(map(() => false))),
    { defaultValue: false },
  );
}

/**
 * Writes `data` to a client in random-sized writes; whenever `write` returns false it waits for
 * `drain$` before the next. Ends the client when told to.
 */
export async function writeClient(
  client: Client,
  data: Uint8Array,
  random: (below: number) => number,
  { end = true }: { end?: boolean } = {},
): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const size = Math.min(data.length - offset, chunkSize(random));
    const ok = client.write(data.subarray(offset, offset + size));
    offset += size;
    if (!ok && !(await drained(client))) throw new Error(`client ${client.id} closed while writing`);
  }
  if (end) client.end();
}

/** Everything a client receives, hashed on the fly; settles with the digest and the count. */
export function hashData(client: Client): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    client.data$.subscribe({
      next: (chunk) => {
        hash.update(chunk);
        length += chunk.length;
      },
      error: reject,
      complete: () => resolve({ hash: hash.digest('hex'), length }),
    });
  });
}

/**
 * Writes `data` to a socket in random-sized writes, waiting for 'drain' after a refused write;
 * stops quietly if the socket closes. Ends the socket when told to.
 */
export async function writeSocket(
  socket: Socket,
  data: Uint8Array,
  random: (below: number) => number,
  { end = true }: { end?: boolean } = {},
): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    if (socket.destroyed) return;
    const size = Math.min(data.length - offset, chunkSize(random));
    const ok = socket.write(data.subarray(offset, offset + size));
    offset += size;
    if (!ok) await drainOrClose(socket);
  }
  if (end && !socket.destroyed) socket.end();
}

/**
 * Writes random-sized slices of `pool` to a socket, honouring 'drain', for as long as the socket
 * is open: a transfer that cannot finish before something cuts it.
 */
export async function writeUntilClosed(socket: Socket, pool: Uint8Array, random: (below: number) => number): Promise<void> {
  while (!socket.destroyed && socket.writable) {
    const at = random(pool.length);
    const ok = socket.write(pool.subarray(at, at + chunkSize(random)));
    if (!ok) await drainOrClose(socket);
  }
}

function drainOrClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** What a socket reads until its end, hashed; `ended` tells whether 'end' came before 'close'. */
export interface SocketReading {
  readonly hash: Hash;
  length: number;
  ended: boolean;
  error: Error | undefined;
  /** Settles on 'close'. */
  readonly closed: Promise<void>;
}

export function readSocket(socket: Socket, onData?: (chunk: Buffer) => void): SocketReading {
  const reading: SocketReading = {
    hash: createHash('sha256'),
    length: 0,
    ended: false,
    error: undefined,
    closed: onClose(socket),
  };
  socket.on('data', (chunk: Buffer) => {
    reading.hash.update(chunk);
    reading.length += chunk.length;
    onData?.(chunk);
  });
  socket.on('end', () => (reading.ended = true));
  socket.on('error', (error) => (reading.error = error));
  return reading;
}

/** A local echo service; half-open, so that it echoes everything before it ends. */
export async function echoServer(
  defer: Defer,
): Promise<{ port: number; sockets: Set<Socket>; closed: Promise<void>[] }> {
  const sockets = new Set<Socket>();
  const closed: Promise<void>[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    closed.push(onClose(socket));
    socket.on('close', () => sockets.delete(socket));
    // A peer cut off mid-transfer resets us: that is the test's business, not a crash.
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  const port = await listen(server, defer);
  defer(() => Promise.all([...sockets].map(closeSocket)));
  return { port, sockets, closed };
}

/**
 * The relay's public face: a server whose every accepted socket becomes a client opened on
 * `tunnel` and joined to it with `join` (usually `connectSocket`).
 */
export async function publicServer(
  tunnel: Tunnel,
  join: (client: Client, socket: Socket) => void,
  defer: Defer,
): Promise<{ port: number; sockets: Set<Socket>; clients: Client[]; closed: Promise<void>[] }> {
  const sockets = new Set<Socket>();
  const clients: Client[] = [];
  const closed: Promise<void>[] = [];
  // Half-open: a visitor's end must not cut off the replies still on their way.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    closed.push(onClose(socket));
    socket.on('close', () => sockets.delete(socket));
    const client = tunnel.open({
      family: 'IPv4',
      address: socket.remoteAddress ?? '127.0.0.1',
      port: socket.remotePort ?? 0,
      service: 'tcp',
      serviceport: socket.localPort ?? 0,
      name: 'visitor.test',
    });
    clients.push(client);
    join(client, socket);
  });
  const port = await listen(server, defer);
  defer(() => Promise.all([...sockets].map(closeSocket)));
  return { port, sockets, clients, closed };
}

/** A visitor: a plain socket to a port of 127.0.0.1, closed at cleanup. */
export function visit(port: number, defer: Defer): Socket {
  const socket = connect(port, '127.0.0.1');
  void onClose(socket);
  defer(() => closeSocket(socket));
  return socket;
}

/** A connection from the device to a local service, closed at cleanup. */
export function dialLocal(port: number, defer: Defer): Socket {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  void onClose(socket);
  defer(() => closeSocket(socket));
  return socket;
}

/** Resolves after `count` turns of the event loop, so that handles closed by now are gone. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Counts of `process.getActiveResourcesInfo()` by kind. A handle is listed until libuv has run
 * its close callback, which can be after its 'close' event: call after {@link turns}.
 */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

export const MiB = 1024 * 1024;
