/**
 * The order in which a drained tunnel tells its clients they may write again (the order of
 * service), kept apart from `tunnel.clients`.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTunnel } from '../../src/rx/tunnel.js';
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
    congested.next(true); // second and third begin theirs: no change
    congested.next(false);
    expect(told).toEqual([2, 3, 1]);
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
