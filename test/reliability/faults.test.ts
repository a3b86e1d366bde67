/**
 * Faults at scale: 20 visitors mid-transfer (each streaming the tape through a TCP echo on a
 * claimed port and checking every byte echoed) when
 *
 * - the device's WebSocket dies (its TCP socket destroyed under it),
 * - the relay restarts on the same ports,
 * - the tunnel stalls (the device stops reading its WebSocket),
 * - a local service drops one connection mid-response.
 *
 * Each visitor must end (closed or failed, never hanging), and what it got must be a prefix of
 * what was sent: no corrupted or foreign byte is ever delivered. Then the system serves again.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { issueToken, type Client, type Device, type Relay } from '../../src/index.js';
import {
  KiB,
  MiB,
  MemoryPeak,
  SECRET,
  Tape,
  collectGarbage,
  defer,
  echoServer,
  freePort,
  report,
  startDevice,
  startRelay,
  until,
  within,
} from './helpers.js';

// The WebSockets under the tunnels (the device's has a `url`, the relay's has none), and the
// sockets joined to clients (the relay's visitor sockets among them), as they are made.
const seen = vi.hoisted(() => ({
  websockets: [] as WebSocket[],
  joined: [] as { client: Client; socket: NodeJS.ReadableStream; localPort: number | undefined }[],
}));
vi.mock('../../src/transport/websocket.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/transport/websocket.js')>();
  return {
    ...original,
    fromWebSocket: (...args: Parameters<typeof original.fromWebSocket>) => {
      seen.websockets.push(args[0]);
      return original.fromWebSocket(...args);
    },
  };
});
vi.mock('../../src/rx/connect-socket.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/rx/connect-socket.js')>();
  return {
    ...original,
    connectSocket: (...args: Parameters<typeof original.connectSocket>) => {
      seen.joined.push({ client: args[0], socket: args[1], localPort: (args[1] as net.Socket).localPort });
      return original.connectSocket(...args);
    },
  };
});

afterEach(async () => {
  seen.websockets.length = 0;
  seen.joined.length = 0;
});

const VISITORS = 20;

/** The most a TCP connection's socket buffers can hold here (sender's and receiver's maxima). */
function kernelSocketBuffers(): number {
  const max = (file: string, fallback: number): number => {
    try {
      return Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2] ?? fallback);
    } catch {
      return fallback;
    }
  };
  return max('/proc/sys/net/ipv4/tcp_wmem', 4 * MiB) + max('/proc/sys/net/ipv4/tcp_rmem', 32 * MiB);
}
const tape = new Tape(4 * MiB);

/** The device's current WebSocket (the last one made with a URL). */
function deviceWebSocket(): WebSocket {
  const ws = seen.websockets.filter((w) => typeof w.url === 'string' && w.url !== '').at(-1);
  if (!ws) throw new Error('no device WebSocket seen');
  return ws;
}

/** The relay's side of the device's current WebSocket. */
function relayWebSocket(): WebSocket {
  const ws = seen.websockets.filter((w) => !w.url).at(-1);
  if (!ws) throw new Error('no relay WebSocket seen');
  return ws;
}

/** The relay's sockets of its visitors on `port`, closed ones too. */
function relayVisitorSockets(port: number): net.Socket[] {
  return seen.joined.filter((j) => j.localPort === port).map((j) => j.socket as net.Socket);
}

/**
 * A visitor that streams the tape from `start` (with backpressure) until it has written
 * `limit` bytes, then ends; and checks every echoed byte against the tape. With `pingPong`, it
 * writes each 64 KiB chunk only once the previous one is echoed: it never has writes pending,
 * so a reset reaches it on its read side, where it shows (with writes pending, the kernel may
 * report the reset to the write and the read then sees a plain EOF).
 */
class Streamer {
  readonly socket: net.Socket;
  readonly checker;
  readonly closed: Promise<void>;
  written = 0;
  blocked = false;
  ended = false;
  error: Error | undefined;
  isClosed = false;

  constructor(port: number, start: number, readonly limit: number, pingPong = false) {
    this.checker = tape.checker(start);
    const socket = net.connect({ host: '127.0.0.1', port });
    this.socket = socket;
    defer(() => void socket.destroy());
    const pump = (): void => {
      this.blocked = false;
      while (this.written < limit && !socket.destroyed) {
        const chunk = tape.slice(start + this.written, Math.min(64 * KiB, limit - this.written));
        this.written += chunk.length;
        if (pingPong) return void socket.write(chunk);
        if (!socket.write(chunk)) {
          this.blocked = true;
          socket.once('drain', pump);
          return;
        }
      }
      if (!socket.destroyed) socket.end();
    };
    socket.on('connect', pump);
    socket.on('data', (chunk: Buffer) => {
      this.checker.check(chunk);
      if (pingPong && this.checker.received === this.written) pump();
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', (error) => (this.error = error));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  get received(): number {
    return this.checker.received;
  }

  /** Echoed completely and correctly. */
  get complete(): boolean {
    return this.ended && this.checker.ok && this.checker.received === this.limit && this.error === undefined;
  }
}

function streamers(port: number, count: number, limit: number, seed: number, pingPong = false): Streamer[] {
  return Array.from({ length: count }, (_, i) => new Streamer(port, seed * 1_000_003 + i * 65_537, limit, pingPong));
}

/** Every visitor has had at least `bytes` echoed: they are all mid-transfer. */
async function midTransfer(visitors: Streamer[], bytes = 64 * KiB): Promise<void> {
  await until(() => visitors.every((v) => v.received >= bytes), `every visitor to get ${bytes} bytes echoed`, 10_000);
}

/** How the visitors' sockets ended: an error (a reset), or a clean end. */
function howClosed(visitors: Streamer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of visitors) {
    const how = v.error ? (v.error as NodeJS.ErrnoException).code ?? v.error.message : v.ended ? 'end' : 'close';
    counts[how] = (counts[how] ?? 0) + 1;
  }
  return counts;
}

/** Every visitor ends (closed, whatever the reason) in time, and got only a prefix of the tape. */
async function allEndCleanly(visitors: Streamer[], limit: number, what: string): Promise<void> {
  await within(Promise.all(visitors.map((v) => v.closed)), limit, `every visitor to be closed ${what}`);
  for (const [i, v] of visitors.entries()) {
    expect(v.checker.mismatchAt, `visitor ${i}: a corrupted byte`).toBeUndefined();
    expect(v.received, `visitor ${i}: more echoed than sent`).toBeLessThanOrEqual(v.written);
  }
}

interface Setup {
  relay: Relay;
  device: Device;
  port: number;
  echo: { port: number; sockets: Set<net.Socket>; received(): number };
  token: string;
}

async function setup(): Promise<Setup> {
  const port = await freePort();
  const relay = await startRelay({ tcpPorts: String(port) });
  const echo = await echoServer();
  const token = await issueToken(SECRET, { ports: [port], sub: 'faults' });
  const device = await startDevice(relay, {
    token,
    forwards: [`tcp:${port}=127.0.0.1:${echo.port}`],
    reconnect: { initialDelay: 20, maxDelay: 200 },
  });
  await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);
  return { relay, device, port, echo, token };
}

/** Resolves when the device is online again after having gone offline. */
function backOnline(device: Device): Promise<void> {
  return firstValueFrom(device.state$.pipe(filter((s) => s === 'offline'))).then(() => device.online());
}

/** 20 fresh visitors echo 256 KiB each, intact; then no client is left on either side. */
async function servesAgain(relay: Relay, device: Device, port: number, seed: number): Promise<void> {
  const fresh = streamers(port, VISITORS, 256 * KiB, seed);
  await within(Promise.all(fresh.map((v) => v.closed)), 10_000, 'the fresh visitors to be served');
  for (const [i, v] of fresh.entries()) expect(v.complete, `fresh visitor ${i}`).toBe(true);
  await until(() => device.tunnel?.clients.size === 0 && relay.clientCount === 0, 'no client left');
}

describe('faults at scale', () => {
  it('the device WebSocket dies under 20 visitors: all end cleanly, the device reconnects by itself, new visitors are served', async () => {
    const { relay, device, port } = await setup();
    const visitors = streamers(port, VISITORS, 256 * MiB, 1);
    await midTransfer(visitors);
    const first = device.tunnel;
    const back = backOnline(device);

    const dyingAt = performance.now();
    (deviceWebSocket() as unknown as { _socket: net.Socket })._socket.destroy();
    await allEndCleanly(visitors, 3_000, 'after the WebSocket died');
    const closedIn = performance.now() - dyingAt;
    for (const v of visitors) expect(v.ended && v.checker.received === v.limit).toBe(false);

    await within(back, 5_000, 'the device to come back');
    const backIn = performance.now() - dyingAt;
    expect(device.tunnel).not.toBe(first);
    await until(() => relay.deviceCount === 1, 'the relay to hold one device');
    await servesAgain(relay, device, port, 2);
    report('faults:ws-killed', {
      visitorsClosedInMs: Math.round(closedIn),
      deviceBackInMs: Math.round(backIn),
      echoedBeforeMiB: (visitors.reduce((n, v) => n + v.received, 0) / MiB).toFixed(1),
      visitorsClosedBy: howClosed(visitors),
    });
  });

  it('the relay restarts on the same ports under 20 visitors: all end cleanly, the device comes back, new visitors are served', async () => {
    const { relay, device, port } = await setup();
    const publicPort = relay.addresses.public.port;
    const tunnelPort = relay.addresses.tunnel.port;
    const visitors = streamers(port, VISITORS, 256 * MiB, 3);
    await midTransfer(visitors);
    const offline = firstValueFrom(device.state$.pipe(filter((s) => s === 'offline')));

    const stoppedAt = performance.now();
    await relay.close();
    await allEndCleanly(visitors, 3_000, 'after the relay stopped');
    await within(offline, 3_000, 'the device to notice');
    const again = await startRelay({ listen: `127.0.0.1:${publicPort}`, tunnel: `127.0.0.1:${tunnelPort}`, tcpPorts: String(port) });
    await within(device.online(), 5_000, 'the device to come back to the new relay');
    const backIn = performance.now() - stoppedAt;
    expect(again.deviceCount).toBe(1);
    await until(() => again.ports.tcp.includes(port), `the new relay listening on TCP ${port}`);
    await servesAgain(again, device, port, 4);
    report('faults:relay-restart', { deviceBackInMs: Math.round(backIn), visitorsClosedBy: howClosed(visitors) });
  });

  it('the tunnel stalls: the relay stops reading the visitors, nothing grows without bound, and all complete intact on resume', async () => {
    const { relay, device, port, echo } = await setup();
    // Large enough that the loopback's socket buffers (megabytes each) cannot take it all.
    const LIMIT = 12 * MiB;
    const visitors = streamers(port, VISITORS, LIMIT, 5);
    await midTransfer(visitors);

    // The device stops reading its WebSocket: the relay's side backs up.
    const deviceWs = deviceWebSocket();
    const relayWs = relayWebSocket();
    collectGarbage();
    const meter = new MemoryPeak();
    let maxBuffered = 0;
    const watch = (): void => {
      meter.sample();
      maxBuffered = Math.max(maxBuffered, relayWs.bufferedAmount);
    };
    const sampler = setInterval(watch, 10);
    defer(() => clearInterval(sampler));
    deviceWs.pause();

    // The relay pauses every visitor socket (those whose visitor has not finished sending).
    await until(
      () => relayVisitorSockets(port).every((s) => s.isPaused() || s.readableEnded || s.destroyed),
      'the relay to stop reading its visitors',
    );
    await until(() => visitors.every((v) => v.blocked || v.written === LIMIT), "the visitors' writes to block");
    const read = (): number => relayVisitorSockets(port).reduce((n, s) => n + s.bytesRead, 0);
    const deviceSocket = (deviceWs as unknown as { _socket: net.Socket })._socket;
    const snapshot = () => ({
      read: read(),
      served: echo.received(),
      written: visitors.reduce((n, v) => n + v.written, 0),
      deviceRead: deviceSocket.bytesRead,
    });
    const before = snapshot();
    // Watched for a while: absence of progress cannot be awaited as an event.
    const holdUntil = Date.now() + 500;
    await until(() => Date.now() >= holdUntil, 'the hold');
    const after = snapshot();
    clearInterval(sampler);
    watch();

    // A visitor that finished before the stall is done and whole; most were caught mid-way.
    for (const v of visitors) if (v.isClosed) expect(v.complete).toBe(true);
    const caught = visitors.filter((v) => !v.isClosed).length;
    expect(caught).toBeGreaterThanOrEqual(VISITORS / 2);
    // Their writes are held back: blocked, waiting for a drain that does not come (what they
    // still get written in the meantime goes into the kernel's socket buffers, not the relay).
    const blocked = visitors.filter((v) => v.blocked).length;
    expect(blocked).toBeGreaterThanOrEqual(caught / 2);
    // Stalled: the device reads nothing from its WebSocket (a paused socket still takes one
    // read into its buffer). The relay reads its visitors only while its queue toward the device
    // is under the low watermark: as long as the kernel still takes bytes into the tunnel
    // connection's socket buffers (up to the tcp_wmem + tcp_rmem maxima), never more. What still
    // reaches the service is what the device held already: per client, its high watermark
    // (1 MiB) and what was in flight when it sent `pause`.
    expect(after.deviceRead - before.deviceRead).toBeLessThanOrEqual(64 * KiB);
    expect(after.read - before.read).toBeLessThanOrEqual(kernelSocketBuffers() + VISITORS * 64 * KiB);
    expect(after.served - before.served).toBeLessThanOrEqual(VISITORS * 2 * MiB);
    // Bounded: the relay's queue toward the device stays near its high watermark (1 MiB).
    expect(maxBuffered).toBeLessThan(4 * MiB);
    expect(meter.growth.arrayBuffers).toBeLessThan(64);
    const stalledFigures = {
      caughtMidTransfer: caught,
      writesBlocked: blocked,
      visitorsWrittenMiB: (after.written / MiB).toFixed(1),
      visitorsWrittenDuringHoldKiB: Math.round((after.written - before.written) / KiB),
      relayReadMiB: (after.read / MiB).toFixed(1),
      serviceReadMiB: (after.served / MiB).toFixed(1),
      serviceReadDuringHoldKiB: Math.round((after.served - before.served) / KiB),
      relayReadDuringHoldKiB: Math.round((after.read - before.read) / KiB),
      deviceWsReadDuringHoldKiB: Math.round((after.deviceRead - before.deviceRead) / KiB),
      relayWsMaxBufferedKiB: Math.round(maxBuffered / KiB),
      arrayBuffersGrowthMiB: meter.growth.arrayBuffers.toFixed(1),
    };

    deviceWs.resume();
    await within(Promise.all(visitors.map((v) => v.closed)), 20_000, 'every visitor to complete after the stall');
    for (const [i, v] of visitors.entries()) expect(v.complete, `visitor ${i}`).toBe(true);
    expect(device.state).toBe('online');
    await until(() => device.tunnel?.clients.size === 0 && relay.clientCount === 0, 'no client left');
    report('faults:stall', stalledFigures);
  });

  it('a local service drops connections mid-response: those visitors end, the others and the tunnel are fine', async () => {
    const { relay, device, port, echo } = await setup();
    const LIMIT = 4 * MiB;
    const tunnel = device.tunnel;
    const visitors = streamers(port, VISITORS, LIMIT, 6, true);
    await midTransfer(visitors);

    const live = [...echo.sockets].filter((s) => !s.readableEnded);
    const [reset, dropped] = live;
    if (!reset || !dropped) throw new Error('fewer than two service connections still running');
    // The visitor behind a service connection: the device's client for it carries the
    // visitor's port (the relay names each client by its visitor's address).
    const visitorOf = (service: net.Socket): Streamer => {
      const local = seen.joined.find((j) => (j.socket as net.Socket).localPort === service.remotePort);
      const visitor = visitors.find((v) => v.socket.localPort === local?.client.meta.port);
      if (!visitor) throw new Error(`no visitor for the service connection from port ${service.remotePort ?? '?'}`);
      return visitor;
    };
    const resetVictim = visitorOf(reset);
    const droppedVictim = visitorOf(dropped);
    // One connection reset (RST), one destroyed (a FIN when nothing is left unread).
    reset.resetAndDestroy();
    dropped.destroy();

    await allEndCleanly(visitors, 20_000, 'after two service connections dropped');
    const failed = visitors.filter((v) => !v.complete);
    expect(new Set(failed)).toEqual(new Set([resetVictim, droppedVictim]));
    for (const v of failed) expect(v.received).toBeLessThan(LIMIT);
    // The reset reaches its visitor as a reset, as on a direct connection: a clean end would
    // pass the cut stream off as whole. The destroyed one ends or is reset, depending on
    // whether the device still wrote to it after its FIN (a direct client would get a reset
    // on its next write; through any TCP proxy it may see only the FIN).
    expect(resetVictim.error).toMatchObject({ code: 'ECONNRESET' });
    expect(device.tunnel).toBe(tunnel);
    expect(device.state).toBe('online');
    expect(relay.deviceCount).toBe(1);
    await until(() => device.tunnel?.clients.size === 0 && relay.clientCount === 0, 'no client left');
    await servesAgain(relay, device, port, 7);
    report('faults:service-drop', {
      resetVictimClosedBy: howClosed([resetVictim]),
      destroyedVictimClosedBy: howClosed([droppedVictim]),
      victimsEchoedKiB: failed.map((v) => Math.round(v.received / KiB)),
    });
  });
});
