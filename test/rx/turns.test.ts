/**
 * The order in which a drained tunnel tells its clients they may write again (the order of
 * service), kept apart from `tunnel.clients`.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Client } from '../../src/rx/client.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { TransportBase } from '../../src/transport/base.js';
import { A, scriptedTransport } from './helpers.js';

const MiB = 1024 * 1024;

function setup() {
  const { transport, written, congested } = scriptedTransport(new Subject<Uint8Array>());
  const tunnel = createTunnel(transport);
  const clients = [1, 2, 3].map((port) => tunnel.open({ ...A, port }));
  // The ports of the clients told `true` at each drain, in the order told.
  const told: number[] = [];
  for (const client of clients) {
    client.watchWritable((writable) => {
      if (writable) told.push(client.meta.port as number);
    });
  }
  told.length = 0;
  return { transport, written, congested, tunnel, clients, told };
}

/**
 * Three clients whose watchers write 64 KiB each time they are told they may (a socket handing
 * over the chunk it held), then, once set up, call `after` with how many have been told so far.
 * `told`: the ports told, in order, from now on.
 */
function handingOver(tunnel: ReturnType<typeof createTunnel>, after: (count: number) => unknown = () => {}) {
  const clients = [1, 2, 3].map((port) => tunnel.open({ ...A, port }));
  const told: number[] = [];
  let armed = false;
  for (const client of clients) {
    client.watchWritable((writable) => {
      if (!writable) return;
      told.push(client.meta.port as number);
      client.write(Buffer.alloc(64 * 1024));
      if (armed) after(told.length);
    });
  }
  told.length = 0;
  armed = true;
  return { clients, told };
}

describe('turns after a congestion', () => {
  it('tells a client that has had its 1 MiB turn after the others', () => {
    const { congested, clients, told } = setup();
    const [first, second, third] = clients as [(typeof clients)[0], (typeof clients)[0], (typeof clients)[0]];
    first.write(Buffer.alloc(1));
    congested.next(true); // first's turn begins
    congested.next(false);
    expect(told).toEqual([1, 2, 3]);
    told.length = 0;

    first.write(Buffer.alloc(MiB));
    congested.next(true); // first has had its turn
    congested.next(false);
    expect(told).toEqual([2, 3, 1]);
    told.length = 0;

    second.write(Buffer.alloc(10));
    third.write(Buffer.alloc(10));
    congested.next(true); // all three within their turns: served in the order they began to wait
    congested.next(false);
    expect(told).toEqual([1, 2, 3]);
  });

  it('serves waiting clients while the queue holds at most 128 KiB, the others at later flushes', () => {
    const { transport, congested, queue, flushed } = scriptedTransport(new Subject<Uint8Array>(), { flushes: true });
    const { clients, told } = handingOver(createTunnel(transport));
    queue.buffered = 2 * MiB;
    congested.next(true);
    queue.buffered = 0;
    congested.next(false);
    // The first two fill the queue past 128 KiB: the third is left the room the first two's
    // next reads will want, though the transport is not congested.
    expect(told).toEqual([1, 2]);
    expect(transport.bufferedAmount).toBeGreaterThan(128 * 1024);
    expect(congested.value).toBe(false);
    expect(clients.map((client) => client.writable)).toEqual([true, true, false]);
    queue.buffered = 200 * 1024;
    flushed.next(); // still more than 128 KiB queued
    expect(told).toEqual([1, 2]);
    queue.buffered = 0;
    flushed.next();
    expect(told).toEqual([1, 2, 3]);
    expect(clients.map((client) => client.writable)).toEqual([true, true, true]);
  });

  it('makes a client that has had its turn while another waits give way, without a congestion', () => {
    const { transport, congested, queue, flushed } = scriptedTransport(new Subject<Uint8Array>(), { flushes: true });
    const tunnel = createTunnel(transport);
    const [busy, other] = [1, 2].map((port) => tunnel.open({ ...A, port })) as [Client, Client];
    const told: number[] = [];
    let firstTurn = false;
    for (const client of [busy, other]) {
      client.watchWritable((writable) => {
        if (!writable) return;
        told.push(client.meta.port as number);
        if (client === busy && firstTurn) {
          firstTurn = false;
          client.write(Buffer.alloc(200 * 1024));
        }
      });
    }
    told.length = 0;
    firstTurn = true;
    congested.next(true);
    congested.next(false);
    expect(told).toEqual([1]); // busy filled the room: other waits
    // busy goes on writing: nobody congests, but its turn ends after 1 MiB and other goes first.
    let accepted = 0;
    while (busy.write(Buffer.alloc(64 * 1024))) accepted += 64 * 1024;
    expect(200 * 1024 + accepted).toBeLessThan(MiB);
    expect(200 * 1024 + accepted + 64 * 1024).toBeGreaterThanOrEqual(MiB);
    expect(congested.value).toBe(false);
    expect(busy.writable).toBe(false);
    queue.buffered = 0;
    flushed.next();
    expect(told).toEqual([1, 2, 1]);
  });

  it('puts a client that writes without a turn while others wait behind them when it meets a congestion', () => {
    const { transport, congested, queue } = scriptedTransport(new Subject<Uint8Array>(), { flushes: true });
    const tunnel = createTunnel(transport);
    const [first, waiting, flowing] = [1, 2, 3].map((port) => tunnel.open({ ...A, port })) as [Client, Client, Client];
    const told: number[] = [];
    for (const client of [first, waiting, flowing]) {
      // Lazy, as connectSocket's: told of a congestion only by writing into it.
      client.watchWritable(
        (writable) => {
          if (!writable) return;
          told.push(client.meta.port as number);
          client.write(Buffer.alloc(200 * 1024));
        },
        undefined,
        { lazy: true },
      );
    }
    told.length = 0;
    queue.buffered = 0;
    congested.next(true);
    first.write(Buffer.alloc(1));
    waiting.write(Buffer.alloc(1));
    congested.next(false);
    expect(told).toEqual([1]); // first filled the room: `waiting` waits
    expect(flowing.write(Buffer.alloc(10))).toBe(true); // never waited: writes on (within a quota)
    congested.next(true);
    flowing.write(Buffer.alloc(10)); // into the congestion: behind `waiting`
    queue.buffered = 0;
    congested.next(false);
    expect(told).toEqual([1, 2]);
  });

  it('serves a waiting client though the clients that flow keep congesting the queue between flushes', () => {
    /** A real TransportBase (WriteFlow's marks, 1 MiB / 128 KiB) whose queue the test empties. */
    class Manual extends TransportBase {
      queued = 0;
      get bufferedAmount(): number {
        return this.queued;
      }
      protected sendChunk(chunk: Uint8Array): void {
        this.queued += chunk.byteLength;
      }
      protected sendChunks(chunks: readonly Uint8Array[]): void {
        for (const chunk of chunks) this.queued += chunk.byteLength;
      }
      protected startReading(): void {}
      protected stopReading(): void {}
      protected closeCarrier(): void {}
      protected destroyCarrier(): void {}
      flushTo(bytes: number): void {
        this.queued = bytes;
        this.flushed();
      }
    }
    const transport = new Manual();
    const tunnel = createTunnel(transport);
    const told: number[] = [];
    let armed = false;
    const open = (port: number): Client => {
      const client = tunnel.open({ ...A, port });
      client.watchWritable(
        (writable) => {
          if (!writable || !armed) return;
          told.push(port);
          client.write(Buffer.alloc(300 * 1024));
        },
        undefined,
        { lazy: true },
      );
      return client;
    };
    const [first, waiting, f1, f2] = [1, 2, 11, 12].map(open) as [Client, Client, Client, Client];
    armed = true;
    transport.write(Buffer.alloc(2 * MiB)); // congested by other traffic
    first.write(Buffer.alloc(1));
    waiting.write(Buffer.alloc(1));
    transport.flushTo(0); // first is served and fills the room; `waiting` waits in line
    f1.write(Buffer.alloc(10));
    f2.write(Buffer.alloc(10));
    transport.write(Buffer.alloc(MiB));
    // Two sockets flowing meanwhile, taking turns at meeting the congestions: the queue never
    // sits at the low watermark but at drains.
    for (let round = 0; round < 20 && !told.includes(2); round++) {
      const [hit, missed] = round % 2 === 0 ? [f1, f2] : [f2, f1];
      hit.write(Buffer.alloc(10));
      transport.flushTo(0);
      missed.write(Buffer.alloc(10));
      transport.write(Buffer.alloc(MiB));
    }
    expect(told).toContain(2);
  });

  it('serves waiting clients until the queue congests again when the transport has no flushed$', () => {
    const { transport, congested, queue } = scriptedTransport(new Subject<Uint8Array>());
    // The second one served fills it.
    const { told } = handingOver(createTunnel(transport), (count) => count === 2 && congested.next(true));
    // More than 128 KiB queued: with flushed$ nobody would be served now.
    queue.buffered = 512 * 1024;
    congested.next(true);
    congested.next(false);
    expect(told).toEqual([1, 2]);
    congested.next(false);
    // The two served are within their turns and go first again; then the third.
    expect(told).toEqual([1, 2, 1, 2, 3]);
  });

  it('leaves tunnel.clients in the order the clients opened', () => {
    const { congested, clients, tunnel } = setup();
    const [first] = clients as [(typeof clients)[0]];
    first.write(Buffer.alloc(1));
    congested.next(true);
    congested.next(false);
    first.write(Buffer.alloc(MiB));
    congested.next(true);
    congested.next(false);
    expect([...tunnel.clients.values()].map((client) => client.meta.port)).toEqual([1, 2, 3]);
  });

  it('visits each client once when a loop over tunnel.clients congests the tunnel', () => {
    const { transport, written, congested, clients, tunnel } = setup();
    for (const client of clients) client.write(Buffer.alloc(1));
    congested.next(true); // turns begin
    congested.next(false);
    for (const client of clients) client.write(Buffer.alloc(MiB));
    // The first write of the loop below congests the tunnel, ending every turn at once.
    let armed = true;
    const write = transport.writev.bind(transport);
    transport.writev = (chunks) => {
      const result = write(chunks);
      if (armed) {
        armed = false;
        congested.next(true);
      }
      return result;
    };
    written.length = 0;
    const visited: number[] = [];
    for (const client of tunnel.clients.values()) {
      visited.push(client.meta.port as number);
      client.write(Buffer.from('hello'));
    }
    expect(visited).toEqual([1, 2, 3]);
    expect(written.filter((frame) => frame.kind === 'data').map((frame) => frame.port)).toEqual([1, 2, 3]);
  });
});
