/**
 * Bursts: when many clients run into one congestion at once, the tunnel asks the producers of
 * the others to stop reading ahead, and holds room for each stopped producer it serves until
 * that producer's bytes arrive (or it turns out to have none).
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Client } from '../../src/rx/client.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, scriptedTransport } from './helpers.js';

const KiB = 1024;
// The burst size the tunnel documents (BURST_WAITERS in src/rx/tunnel.ts).
const BURST = 16;

/**
 * A producer that reads ahead, as connectSocket's socket does: while told `true` it is flowing;
 * asked to stop, it stops (when `stoppable`); told `true` again after a stop, it reserves room
 * for the chunk it will read, as a restarted socket does.
 */
function producer(client: Client, { stoppable = true, reserve = 64 * KiB } = {}) {
  const state = { flowing: true, stopped: false, stopsAsked: 0, restarts: 0 };
  client.watchWritable(
    (writable) => {
      state.flowing = writable;
      if (writable && state.stopped) {
        state.stopped = false;
        state.restarts++;
        client.reserveRoom(reserve);
      }
    },
    undefined,
    {
      lazy: true,
      stop: () => {
        state.stopsAsked++;
        if (stoppable) state.stopped = true;
        return stoppable;
      },
    },
  );
  return state;
}

function setup() {
  const { transport, congested, queue, flushed } = scriptedTransport(new Subject<Uint8Array>(), { flushes: true });
  const tunnel = createTunnel(transport);
  let port = 1;
  const open = (): Client => tunnel.open({ ...A, port: port++ });
  return { tunnel, congested, queue, flushed, open };
}

/** Clients that write into the congestion and so begin to wait, as sockets holding a chunk do. */
function runInto(clients: readonly Client[]): void {
  for (const client of clients) expect(client.write(Buffer.alloc(1))).toBe(false);
}

/**
 * A burst of 16 waiting clients (their producers reserve nothing), which stops `count` more
 * that reserve `reserve` bytes each when served; then a drain with an empty queue. Returns
 * the stopped clients and their producers.
 */
function burstThenDrain(count: number, reserve: number) {
  const { congested, queue, flushed, open } = setup();
  const busy = Array.from({ length: BURST }, open);
  for (const client of busy) producer(client, { reserve: 0 });
  const clients = Array.from({ length: count }, open);
  const stopped = clients.map((client) => producer(client, { reserve }));
  congested.next(true);
  runInto(busy);
  expect(stopped.every((p) => p.stopped)).toBe(true);
  // The 16 are served first (they reserve nothing and write nothing), then the stopped ones.
  queue.buffered = 0;
  congested.next(false);
  return { clients, stopped, queue, flushed };
}

describe('a burst of clients waiting at once', () => {
  it(`asks the flowing producers to stop when the ${BURST}th client begins to wait, not before`, () => {
    const { congested, open } = setup();
    const busy = Array.from({ length: BURST }, open);
    for (const client of busy) producer(client);
    const idle = Array.from({ length: 3 }, open).map((client) => producer(client));
    const unstoppable = producer(open(), { stoppable: false });
    congested.next(true);

    runInto(busy.slice(0, BURST - 1));
    expect(idle.map((p) => p.stopsAsked)).toEqual([0, 0, 0]);
    expect(idle.every((p) => p.flowing)).toBe(true);

    runInto(busy.slice(BURST - 1));
    expect(idle.map((p) => p.stopsAsked)).toEqual([1, 1, 1]);
    // Stopped: told `false`, waiting for their turns.
    expect(idle.every((p) => p.stopped && !p.flowing)).toBe(true);
    // One that cannot stop is left flowing: it meets the congestion when it reads.
    expect(unstoppable.stopsAsked).toBe(1);
    expect(unstoppable.flowing).toBe(true);
  });

  it('waits for a congestion: a long line between the watermarks stops nobody', () => {
    const { congested, queue, open } = setup();
    const busy = Array.from({ length: BURST + 1 }, open);
    for (const client of busy) producer(client, { reserve: 0 });
    const idle = producer(open());
    congested.next(true);
    runInto(busy.slice(0, BURST - 1));
    // Drained, but the queue stays above the low watermark: nobody is served.
    queue.buffered = 256 * KiB;
    congested.next(false);
    // A client that has written its 1 MiB while others wait (counted from its first write
    // seen then) is the 16th in line.
    const [sixteenth, seventeenth] = busy.slice(BURST - 1) as [Client, Client];
    expect(sixteenth.write(Buffer.alloc(1))).toBe(true);
    expect(sixteenth.write(Buffer.alloc(1024 * KiB))).toBe(false);
    expect(idle.stopsAsked).toBe(0);

    // The next to wait meets a congestion: now it is a burst.
    congested.next(true);
    runInto([seventeenth]);
    expect(idle.stopsAsked).toBe(1);
  });

  it('asks again only once the line has shortened below the burst and grown back', () => {
    const { congested, queue, open } = setup();
    const busy = Array.from({ length: BURST + 1 }, open);
    for (const client of busy) producer(client, { reserve: 0 });
    congested.next(true);
    runInto(busy.slice(0, BURST));
    // A client flowing again after the burst (served, not stopped): the line is still long.
    const late = producer(open());
    runInto(busy.slice(BURST));
    expect(late.stopsAsked).toBe(0);

    // All served (they reserve nothing): the line is empty; a new burst asks again.
    queue.buffered = 0;
    congested.next(false);
    congested.next(true);
    runInto(busy.slice(0, BURST));
    expect(late.stopsAsked).toBe(1);
  });

  it('serves stopped producers one reservation at a time, up to the low watermark', () => {
    const { stopped, flushed } = burstThenDrain(4, 60 * KiB);
    // Served while what is held stays within the 128 KiB low watermark: 0, 60 and 120 KiB
    // before each of three.
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 1, 0]);

    // A flush with the reservations still held: no room.
    flushed.next();
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 1, 0]);
  });

  it('gives the room back when the producer writes, serving nobody from within that write', () => {
    const { clients, stopped, flushed } = burstThenDrain(3, 100 * KiB);
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 0]);

    // The first writes 16 KiB: its 100 KiB are given back, but serving waits for a flush.
    (clients[0] as Client).write(Buffer.alloc(16 * KiB));
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 0]);
    // 16 KiB queued + the second's 100 KiB held: 116 KiB, within the 128 KiB.
    flushed.next();
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 1]);
  });

  it('serves others when a reservation expires unused, or its client finished', () => {
    const { clients, stopped, queue } = burstThenDrain(3, 129 * KiB);
    expect(stopped.map((p) => p.restarts)).toEqual([1, 0, 0]);

    // Nothing to read after all (an idle socket): the room goes to the next.
    (clients[0] as Client).releaseRoom();
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 0]);
    // A second release, after the first: nothing more.
    (clients[0] as Client).releaseRoom();
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 0]);

    // Destroyed while holding room: the room is no longer held, and when the producer's wait
    // for its bytes runs out, the next is served (with nothing queued, no flush would).
    (clients[1] as Client).destroy();
    queue.buffered = 0;
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 0]);
    (clients[1] as Client).releaseRoom();
    expect(stopped.map((p) => p.restarts)).toEqual([1, 1, 1]);
  });
});
