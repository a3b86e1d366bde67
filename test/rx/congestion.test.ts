/**
 * What a congestion of the tunnel's transport costs and whom it reaches: lazy watchers (the
 * per-socket plumbing) hear of it only when their client writes into it, eager ones
 * (`writable$`) on every flip, and every watcher left holding `false` hears of the drain.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, scriptedTransport } from './helpers.js';

function setup(count: number) {
  const { transport, congested } = scriptedTransport(new Subject<Uint8Array>());
  const tunnel = createTunnel(transport);
  const clients = Array.from({ length: count }, (_, i) => tunnel.open({ ...A, port: 1000 + i }));
  // Every call of every lazy watcher, after the one each gets at once.
  const calls: Array<[number, boolean]> = [];
  clients.forEach((client, i) => {
    let first = true;
    client.watchWritable(
      (writable) => {
        if (!first) calls.push([i, writable]);
        first = false;
      },
      undefined,
      { lazy: true },
    );
  });
  return { tunnel, congested, clients, calls };
}

describe('congestion', () => {
  it('reaches no lazy watcher of a client that does not write, however many there are', () => {
    const { congested, calls } = setup(1000);
    for (let round = 0; round < 5; round++) {
      congested.next(true);
      congested.next(false);
    }
    expect(calls).toEqual([]);
  });

  it('tells a lazy watcher when its client writes into the congestion, and again at the drain', () => {
    const { congested, clients, calls } = setup(10);
    congested.next(true);
    expect(clients[3]?.write(Buffer.from('x'))).toBe(false);
    expect(calls).toEqual([[3, false]]);
    congested.next(false);
    expect(calls).toEqual([
      [3, false],
      [3, true],
    ]);
  });

  it('tells eager watchers (writable$) of every flip', () => {
    const { congested, clients } = setup(3);
    const seen: boolean[] = [];
    clients[1]?.writable$.subscribe((writable) => seen.push(writable));
    congested.next(true);
    congested.next(false);
    congested.next(true);
    expect(seen).toEqual([true, false, true, false]);
    expect(clients[1]?.writable).toBe(false);
  });

  it('tells a watcher that began watching in a congestion of the drain', () => {
    const { tunnel, congested } = setup(0);
    congested.next(true);
    const client = tunnel.open({ ...A, port: 4000 });
    const seen: boolean[] = [];
    client.watchWritable((writable) => seen.push(writable), undefined, { lazy: true });
    congested.next(false);
    expect(seen).toEqual([false, true]);
  });

  it('tells a client whose remote resumed it in a congestion when the congestion ends', () => {
    const { congested, clients, calls } = setup(2);
    const client = clients[0];
    client?.receive('pause', new Uint8Array(0));
    congested.next(true);
    client?.receive('resume', new Uint8Array(0));
    congested.next(false);
    expect(calls).toEqual([
      [0, false],
      [0, true],
    ]);
  });

  it('forgets a waiting client that finishes', () => {
    const { congested, clients, calls } = setup(2);
    congested.next(true);
    clients[0]?.write(Buffer.from('x'));
    clients[0]?.destroy();
    congested.next(false);
    expect(calls).toEqual([[0, false]]);
  });
});
