/**
 * Congestions both ways, remote pauses and every kind of producer at once: 40 visitors echo
 * 600 KB each through two tunnels over an in-memory carrier with small watermarks. At the far
 * end a third of the clients are echoed by user code that writes and waits for `drain$` (eager
 * watchers), the others by `connectSocket` on local streams that answer late at random (lazy
 * watchers), some with an extra `writable$` subscriber; the visitors write in random sizes at
 * random moments and sometimes stop reading for a moment. Every visitor must get its bytes back
 * intact, then its end. Found nothing when written; it is here so that the scheduling of
 * congestions (src/rx/tunnel.ts) keeps meeting all of these together.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { connectSocket, createTunnel, type Client } from '../../src/rx/index.js';
import { memoryPair } from '../../src/transport/memory.js';
import { SEED, between, defer, prng, within } from './helpers.js';

const VISITORS = 40;
const PER_VISITOR = 600_000;

/** Echoes a client by hand: queue what comes, write it back, wait for drain$ when told to. */
function echoByHand(client: Client): void {
  const queue: Uint8Array[] = [];
  let pumping = false;
  let ended = false;
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    while (queue.length > 0) {
      if (!client.write(queue.shift() as Uint8Array)) await firstValueFrom(client.drain$, { defaultValue: undefined });
    }
    pumping = false;
    if (ended) client.end();
  };
  client.data$.subscribe({
    next: (chunk) => {
      queue.push(chunk);
      void pump();
    },
    complete: () => {
      ended = true;
      void pump();
    },
  });
}

/** A local stream that echoes what it is written, now or a few ms later. */
function lateEcho(random: () => number): Duplex {
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      const answer = (): void => {
        stream.push(chunk);
        callback();
      };
      if (random() < 0.3) setTimeout(answer, between(random, 0, 3));
      else answer();
    },
    final(callback) {
      stream.push(null);
      callback();
    },
  });
  return stream;
}

describe('congestions with every kind of producer', () => {

  it(`echoes ${VISITORS} visitors x ${PER_VISITOR} bytes intact (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const [relaySide, deviceSide] = memoryPair({ highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024 });
    const small = { highWaterMark: 32 * 1024, lowWaterMark: 8 * 1024 };
    const relay = createTunnel(relaySide, small);
    const device = createTunnel(deviceSide, small);
    defer(() => relay.destroy());
    defer(() => device.destroy());
    let congestions = 0;
    relaySide.congested$.subscribe((congested) => void (congested && congestions++));
    deviceSide.congested$.subscribe((congested) => void (congested && congestions++));

    device.clients$.subscribe((client) => {
      const kind = (client.meta.port as number) % 3;
      if (kind === 0) {
        echoByHand(client);
        return;
      }
      connectSocket(client, lateEcho(random));
      if (kind === 1) client.writable$.subscribe(() => {});
    });

    const accepted: Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket));
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const finished: Promise<void>[] = [];
    for (let i = 0; i < VISITORS; i++) {
      const visitor = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      defer(() => void visitor.destroy());
      await new Promise((resolve) => visitor.once('connect', resolve));
      await within(
        (async () => {
          while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
        })(),
        5000,
        'the relay side accepting a visitor',
      );
      const socket = accepted.shift() as Socket;
      defer(() => void socket.destroy());
      const client = relay.open({ family: 'IPv4', address: '10.0.0.1', port: 1000 + i });
      connectSocket(client, socket);
      if (i % 4 === 0) client.writable$.subscribe(() => {});

      const sent: Buffer[] = [];
      const got: Buffer[] = [];
      visitor.on('data', (chunk: Buffer) => {
        got.push(chunk);
        if (random() < 0.05) {
          visitor.pause();
          setTimeout(() => visitor.resume(), 2);
        }
      });
      finished.push(
        new Promise<void>((resolve) => visitor.once('end', resolve)).then(() => {
          expect(Buffer.concat(got).equals(Buffer.concat(sent)), `visitor ${i}: the echo differs (seed ${SEED})`).toBe(true);
        }),
      );
      let left = PER_VISITOR;
      const pump = (): void => {
        while (left > 0) {
          const size = Math.min(left, between(random, 1, 40_000));
          const bytes = Buffer.alloc(size, (i * 7 + left) & 0xff);
          sent.push(bytes);
          left -= size;
          if (!visitor.write(bytes)) {
            visitor.once('drain', pump);
            return;
          }
          if (random() < 0.3) {
            setTimeout(pump, 1);
            return;
          }
        }
        visitor.end();
      };
      setTimeout(pump, between(random, 0, 5));
    }
    await within(Promise.all(finished), 30_000, `${VISITORS} echoes (seed ${SEED})`);
    expect(congestions).toBeGreaterThan(0);
  });
});
