/**
 * How a tunnel serves its clients (docs/reactive.md): every client's frames leave through one
 * fair merge while the transport takes more; a client has credit while its last write has left
 * and its remote has not paused it. Driven by a scripted transport whose congestion the test
 * sets by hand.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, internal, scriptedTransport } from './helpers.js';

const KiB = 1024;

function setup(count: number) {
  const scripted = scriptedTransport(new Subject<Uint8Array>());
  const tunnel = createTunnel(scripted.transport);
  const clients = Array.from({ length: count }, (_, i) => tunnel.open({ ...A, port: 1000 + i }));
  const data = (): string[] => scripted.written.filter((f) => f.kind === 'data').map((f) => `${(f.port ?? 0) - 1000}:${f.data.length / KiB}`);
  return { ...scripted, tunnel, clients, data };
}

describe('credit', () => {
  it('is not taken from clients that do not write, however many there are', () => {
    const { congested, clients } = setup(1000);
    let calls = 0;
    for (const client of clients) client.writable$.subscribe(() => calls++);
    for (let round = 0; round < 5; round++) {
      congested.next(true);
      congested.next(false);
    }
    // One call each: the state replayed at subscription.
    expect(calls).toBe(1000);
  });

  it('is taken from a client that writes into a congestion and given back when its bytes leave', () => {
    const { congested, clients, data } = setup(1);
    const client = clients[0];
    const seen: boolean[] = [];
    client?.writable$.subscribe((writable) => seen.push(writable));
    congested.next(true);
    expect(client?.write(Buffer.alloc(KiB))).toBe(false);
    expect(data()).toEqual([]);
    congested.next(false);
    expect(data()).toEqual(['0:1']);
    expect(seen).toEqual([true, false, true]);
  });

  it('serves the clients waiting at a drain in turn, a quantum each', () => {
    const { congested, clients, data } = setup(3);
    congested.next(true);
    for (const client of clients) for (let i = 0; i < 3; i++) client.write(Buffer.alloc(64 * KiB));
    congested.next(false);
    expect(data()).toEqual(['0:64', '1:64', '2:64', '0:64', '1:64', '2:64', '0:64', '1:64', '2:64']);
  });

  it('stops serving when the transport congests again, and goes on from there at the next drain', () => {
    const scripted = scriptedTransport(new Subject<Uint8Array>());
    const { transport, congested, written } = scripted;
    // A transport that congests with every frame it takes.
    const writev = transport.writev.bind(transport);
    transport.writev = (parts) => {
      writev(parts);
      congested.next(true);
      return false;
    };
    const tunnel = createTunnel(transport);
    const clients = [0, 1].map((i) => tunnel.open({ ...A, port: 1000 + i }));
    const data = (): string[] => written.filter((f) => f.kind === 'data').map((f) => `${(f.port ?? 0) - 1000}:${f.data.length / KiB}`);
    congested.next(false);
    for (const client of clients) for (let i = 0; i < 2; i++) client.write(Buffer.alloc(64 * KiB));
    expect(data()).toEqual([]);
    congested.next(false);
    expect(data()).toEqual(['0:64']);
    congested.next(false);
    expect(data()).toEqual(['0:64', '1:64']);
    congested.next(false);
    congested.next(false);
    expect(data()).toEqual(['0:64', '1:64', '0:64', '1:64']);
  });

  it('holds the bytes of a client its remote paused, and lets the others pass', () => {
    const { clients, data } = setup(2);
    const [a, b] = clients;
    internal(a).receive('pause', new Uint8Array(0));
    expect(a?.writable).toBe(false);
    a?.write(Buffer.alloc(KiB));
    b?.write(Buffer.alloc(2 * KiB));
    expect(data()).toEqual(['1:2']);
    internal(a).receive('resume', new Uint8Array(0));
    expect(data()).toEqual(['1:2', '0:1']);
    expect(a?.writable).toBe(true);
  });

  it('sends pause and resume for a client whose own bytes are held', () => {
    const scripted = scriptedTransport(new Subject<Uint8Array>());
    const tunnel = createTunnel(scripted.transport, { highWaterMark: 4, lowWaterMark: 2 });
    const kinds = (): string[] => scripted.written.map((f) => f.kind);
    const client = tunnel.open({ ...A, port: 7 });
    internal(client).receive('pause', new Uint8Array(0));
    client.write(Buffer.from('held'));
    // Its inbound bytes pile up unread: `pause` must not wait behind the held data.
    internal(client).receive('data', Buffer.from('0123456789'));
    expect(kinds()).toEqual(['connection', 'pause']);
    // Read, they fall below lowWaterMark: `resume`, still ahead of the held data.
    const read: string[] = [];
    client.data$.subscribe((chunk) => read.push(Buffer.from(chunk).toString()));
    expect(read).toEqual(['0123456789']);
    expect(kinds()).toEqual(['connection', 'pause', 'resume']);
    // The remote resumes this side: the held bytes leave.
    internal(client).receive('resume', new Uint8Array(0));
    expect(scripted.written.map((f) => `${f.kind}:${Buffer.from(f.data).toString()}`).slice(3)).toEqual(['data:held']);
    client.destroy();
    tunnel.destroy();
  });

  it('sends what is queued before it closes the transport', () => {
    const { congested, clients, data, written, state, tunnel } = setup(2);
    congested.next(true);
    for (const client of clients) client.write(Buffer.alloc(KiB));
    tunnel.close();
    expect(state.closedCleanly).toBe(false);
    congested.next(false);
    expect(data()).toEqual(['0:1', '1:1']);
    expect(written.filter((f) => f.kind === 'end').map((f) => (f.port ?? 0) - 1000)).toEqual([0, 1]);
    expect(state.closedCleanly).toBe(true);
  });
});

describe("a client's state watchers", () => {
  it('tell every watcher the close, also when one stops watching as it is told', async () => {
    const { clients } = setup(1);
    const client = clients[0]!;
    const closes: string[] = [];
    const writables: string[] = [];
    // Each of the first watchers unsubscribes as soon as it hears the close (as firstValueFrom
    // does); the ones after it must hear it all the same.
    const first = client.closed$.subscribe(() => {
      closes.push('first');
      first.unsubscribe();
    });
    client.closed$.subscribe({ next: () => closes.push('second'), complete: () => closes.push('second done') });
    const w1 = client.writable$.subscribe({ complete: () => writables.push('first done') });
    client.writable$.subscribe({ complete: () => writables.push('second done') });
    w1.add(() => writables.push('first gone'));
    client.destroy();
    expect(closes).toEqual(['first', 'second', 'second done']);
    expect(writables).toEqual(['first done', 'first gone', 'second done']);
    // A late watcher hears the close at once.
    let late = false;
    client.closed$.subscribe(() => (late = true));
    expect(late).toBe(true);
  });
});
