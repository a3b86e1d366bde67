/**
 * Acceptance: a slow consumer pauses its own client, end to end, while the other clients of
 * the tunnel go on and finish; nothing is lost and nothing piles up in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Subject, filter, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { TUNNEL_DEFAULTS, connectSocket, type Client } from '../../src/rx/index.js';
import { MiB, closedOf, dialLocal, listen, onClose, publicServer, readSocket, tcp, visit, type Defer } from './harness.js';

/**
 * The device's local service: reads an 8-byte request (id, size), then streams `size` freshly
 * generated random bytes in 64 KiB chunks, honouring its socket's backpressure, and ends.
 * `served` emits the id and the hash of what was sent once the last byte is handed to the socket.
 */
async function sourceServer(defer: Defer): Promise<{ port: number; served: Subject<{ id: number; hash: string }> }> {
  const served = new Subject<{ id: number; hash: string }>();
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    void onClose(socket).then(() => sockets.delete(socket));
    socket.on('error', () => undefined);
    void serve(socket, served);
  });
  const port = await listen(server, defer);
  defer(() => Promise.all([...sockets].map((socket) => (socket.destroy(), onClose(socket)))));
  return { port, served };
}

async function serve(socket: Socket, served: Subject<{ id: number; hash: string }>): Promise<void> {
  const request = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 8) return;
      socket.off('data', onData);
      resolve(got);
    };
    socket.on('data', onData);
  });
  // Nothing more is expected; keep reading so that the peer's end is seen and the socket closes.
  socket.resume();
  const id = request.readUInt32BE(0);
  let left = request.readUInt32BE(4);
  const hash = createHash('sha256');
  while (left > 0) {
    if (socket.destroyed) return;
    const chunk = randomBytes(Math.min(left, 64 * 1024));
    hash.update(chunk);
    left -= chunk.length;
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
  served.next({ id, hash: hash.digest('hex') });
  socket.end();
}

function request(socket: Socket, id: number, size: number): void {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32BE(id, 0);
  bytes.writeUInt32BE(size, 4);
  socket.write(bytes);
}

describe('tunnel backpressure over TCP', () => {

  it('pauses a slow client end to end while 5 others finish, with every byte intact and memory bounded', { timeout: 40_000 }, async () => {
    const SLOW = 200 * MiB;
    const FAST = 4 * MiB;
    const FASTS = 5;
    // Both tunnels, the service and every visitor live in this process: the bound covers all.
    // Nothing near the 200 MiB may be held at once; 150 MiB leaves room for garbage the
    // collector has not reclaimed yet (every byte is copied through several socket buffers).
    const MEMORY_BOUND = 150 * MiB;
    const { relay, device } = await tcp.open(defer);
    const source = await sourceServer(defer);
    const hashes = new Map<number, string>();
    const servedSub = source.served.subscribe(({ id, hash }) => hashes.set(id, hash));
    defer(() => servedSub.unsubscribe());

    const links: Subscription[] = [];
    const deviceClients: Client[] = [];
    // How often each device-side client saw itself paused by the relay, as the API shows it.
    const pausedSeen = new Map<string, number>();
    device.clients$.subscribe((client) => {
      deviceClients.push(client);
      client.remotePaused$.pipe(filter((paused) => paused)).subscribe(() => pausedSeen.set(client.id, (pausedSeen.get(client.id) ?? 0) + 1));
      links.push(connectSocket(client, dialLocal(source.port, defer)));
    });
    const entry = await publicServer(relay, (client, socket) => links.push(connectSocket(client, socket)), defer);

    // Memory, sampled on every 'data' event of every visitor.
    const baseline = process.memoryUsage();
    const peak = { rss: baseline.rss, arrayBuffers: baseline.arrayBuffers, backlog: 0 };
    const sample = (): void => {
      const now = process.memoryUsage();
      peak.rss = Math.max(peak.rss, now.rss);
      peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers);
      for (const socket of entry.sockets) peak.backlog = Math.max(peak.backlog, socket.writableLength);
    };

    const finished: string[] = [];
    const started = performance.now();

    // The slow visitor reads nothing until the fast ones are done (so that they must finish
    // while it holds its client back: no head-of-line blocking), then only in bursts that the
    // flow control itself drives: from the moment the relay pauses the remote (a `pause` frame
    // reaches the device) until the relay resumes it (`resume`), and to the end once the
    // service has sent its last byte. Events, not timers, set the pace.
    const slow = visit(entry.port, defer);
    await once(slow, 'connect');
    const slowId = `IPv4,127.0.0.1,${slow.localPort}`;
    const slowReading = readSocket(slow, sample);
    slow.pause();
    const flow = { pauses: 0, resumes: 0, othersDone: false, sourceDone: false };
    const steer = (): void => {
      if (!flow.othersDone) return;
      if (flow.sourceDone || flow.pauses > flow.resumes) slow.resume();
      else slow.pause();
    };
    const frames = device.frames$.pipe(filter((frame) => frame.id === slowId)).subscribe((frame) => {
      if (frame.kind === 'pause') flow.pauses++;
      if (frame.kind === 'resume') flow.resumes++;
      steer();
    });
    const sourceSub = source.served.pipe(filter(({ id }) => id === 0)).subscribe(() => {
      flow.sourceDone = true;
      steer();
    });
    defer(() => sourceSub.unsubscribe());
    request(slow, 0, SLOW);
    const slowDone = slowReading.closed.then(() => finished.push('slow'));

    const fasts = Array.from({ length: FASTS }, async (_, i) => {
      const socket = visit(entry.port, defer);
      const reading = readSocket(socket, sample);
      request(socket, i + 1, FAST);
      await reading.closed;
      finished.push(`fast ${i + 1}`);
      return reading;
    });
    const fastReadings = await Promise.all(fasts);
    const fastSeconds = (performance.now() - started) / 1000;
    flow.othersDone = true;
    steer();
    await slowDone;
    const seconds = (performance.now() - started) / 1000;
    frames.unsubscribe();

    const growth = { rss: peak.rss - baseline.rss, arrayBuffers: peak.arrayBuffers - baseline.arrayBuffers };
    console.info(
      [
        `fast: ${FASTS} × ${FAST / MiB} MiB in ${fastSeconds.toFixed(2)} s`,
        `slow: ${SLOW / MiB} MiB in ${seconds.toFixed(2)} s (${(SLOW / MiB / seconds).toFixed(0)} MiB/s)`,
        `pause/resume cycles: ${flow.pauses}/${flow.resumes}`,
        `peak growth: rss ${(growth.rss / MiB).toFixed(1)} MiB, arrayBuffers ${(growth.arrayBuffers / MiB).toFixed(1)} MiB`,
        `peak relay-side socket backlog: ${(peak.backlog / MiB).toFixed(2)} MiB`,
      ].join('\n'),
    );

    // Every byte intact, for everyone.
    fastReadings.forEach((reading, i) => {
      expect(reading.error, `fast ${i + 1}`).toBeUndefined();
      expect(reading.length, `fast ${i + 1}`).toBe(FAST);
      expect(reading.hash.digest('hex'), `fast ${i + 1}`).toBe(hashes.get(i + 1));
    });
    expect(slowReading.error).toBeUndefined();
    expect(slowReading.length).toBe(SLOW);
    expect(slowReading.hash.digest('hex')).toBe(hashes.get(0));

    // The slow client was paused (at least once; in fact once per burst), and the others
    // finished first.
    expect(flow.pauses).toBeGreaterThanOrEqual(1);
    expect(pausedSeen.get(slowId)).toBe(flow.pauses);
    expect(finished.at(-1)).toBe('slow');
    expect(finished).toHaveLength(FASTS + 1);

    // Memory stayed far below the size of the transfer.
    expect(growth.rss).toBeLessThan(MEMORY_BOUND);
    expect(growth.arrayBuffers).toBeLessThan(MEMORY_BOUND);
    // What the relay held for the slow visitor after pausing it (bytes already on their way)
    // stayed under the limit past which it would have destroyed the client.
    expect(peak.backlog).toBeLessThan(TUNNEL_DEFAULTS.maxClientBuffer);

    // Everything closed cleanly once done.
    expect(await Promise.all(entry.clients.map(closedOf))).toEqual(entry.clients.map(() => ({})));
    expect(await Promise.all(deviceClients.map(closedOf))).toEqual(entry.clients.map(() => ({})));
    expect(relay.clients.size).toBe(0);
    expect(device.clients.size).toBe(0);
  });
});
