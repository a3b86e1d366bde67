/**
 * Fair turns: more visitors stream at once than one drain of the tunnel's queue has room for,
 * and each still gets its share (before, the first to come took every drain and the rest never
 * sent a byte).
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { connectSocket } from '../../src/rx/index.js';
import { MiB, publicServer, tcp, visit, ws } from './harness.js';

const VISITORS = 40;
const PER_VISITOR = 3 * MiB;

/** Writes the chunk again and again, waiting for 'drain' when told to, until `stop()`. */
function stream(socket: Socket, chunk: Buffer): { stop(): void } {
  let stopped = false;
  const pump = (): void => {
    while (!stopped && socket.write(chunk));
    if (!stopped) socket.once('drain', pump);
  };
  pump();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

describe('fair turns after a congestion', () => {

  for (const carrier of [tcp, ws]) {
    it(`gives each of ${VISITORS} streaming visitors its share over ${carrier.name}`, async () => {
      const pair = await carrier.open(defer);
      const received = new Map<string, number>();
      let total = 0;
      let reached: () => void = () => {};
      const enough = new Promise<void>((resolve) => (reached = resolve));
      let opened: () => void = () => {};
      const allOpen = new Promise<void>((resolve) => (opened = resolve));
      pair.device.clients$.subscribe((client) => {
        received.set(client.id, 0);
        if (received.size === VISITORS) opened();
        client.data$.subscribe({
          next: (chunk) => {
            received.set(client.id, (received.get(client.id) ?? 0) + chunk.length);
            total += chunk.length;
            if (total >= VISITORS * PER_VISITOR) reached();
          },
          // The teardown cuts the tunnel mid-frame.
          error: () => {},
        });
      });
      const { port } = await publicServer(pair.relay, (client, socket) => connectSocket(client, socket), defer);
      const visitors = Array.from({ length: VISITORS }, () => visit(port, defer));
      // Nothing is sent before every visitor is open at the far end: all start together.
      for (const socket of visitors) socket.write(Buffer.alloc(1));
      await allOpen;
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      const streams = visitors.map((socket) => stream(socket, chunk));
      await enough;
      for (const s of streams) s.stop();
      const shares = [...received.values()].sort((a, b) => a - b);
      // An even split gives each PER_VISITOR; turns of 1 MiB keep every share within a small
      // factor of it. (Before turns, over TCP: one visitor took 24-41 MiB, others under 1 MiB.)
      expect(shares[0]).toBeGreaterThanOrEqual(PER_VISITOR / 4);
      expect(shares[shares.length - 1]).toBeLessThanOrEqual(3 * PER_VISITOR);
    });
  }
});
