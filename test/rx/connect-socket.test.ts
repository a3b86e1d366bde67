/**
 * connectSocket against a real tunnel over a scripted transport whose congestion the test sets:
 * which sockets are read when, what is held back, in what order a drain serves them, and that
 * nothing reaches a client the remote paused.
 */
import { Duplex } from 'node:stream';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { connectSocket } from '../../src/rx/connect-socket.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, B, ID_A, ID_B, scriptedTransport, internal } from './helpers.js';

function setup() {
  const scripted = scriptedTransport(new Subject<Uint8Array>());
  const tunnel = createTunnel(scripted.transport);
  const dataOf = (id: string): string =>
    scripted.written
      .filter((frame) => frame.kind === 'data' && frame.id === id)
      .map((frame) => Buffer.from(frame.data).toString())
      .join('');
  const kindsOf = (id: string): string[] => scripted.written.filter((frame) => frame.id === id).map((frame) => frame.kind);
  /** The next write through the transport congests it (as a full WebSocket queue would). */
  const congestOnNextWrite = (): void => {
    const writev = scripted.transport.writev.bind(scripted.transport);
    scripted.transport.writev = (chunks) => {
      scripted.transport.writev = writev;
      const result = writev(chunks);
      scripted.congested.next(true);
      return result;
    };
  };
  return { ...scripted, tunnel, dataOf, kindsOf, congestOnNextWrite };
}

/** A socket stand-in: what the test pushes is what it "reads" (one push, one read). */
function socket(): Duplex {
  return new Duplex({
    readableHighWaterMark: 0,
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** Lets the stream's nextTick-scheduled flow run. */
const ticks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('connectSocket', () => {
  it('tells no socket of a congestion: what a socket reads into one is held back, then sent at the drain, in order', async () => {
    const { tunnel, congested, dataOf } = setup();
    const first = socket();
    const second = socket();
    connectSocket(tunnel.open(A), first);
    connectSocket(tunnel.open(B), second);
    first.push('one');
    await ticks();
    expect(dataOf(ID_A)).toBe('one');

    congested.next(true);
    second.push('two');
    first.push('three');
    await ticks();
    // Nothing went into the congestion; each client spent its credit on the chunk it read,
    // and what its socket reads next stays there.
    expect(dataOf(ID_A)).toBe('one');
    expect(dataOf(ID_B)).toBe('');
    first.push('four');
    await ticks();
    expect(first.readableLength).toBe(4);

    congested.next(false);
    // Handed over during the drain itself, in the order the clients began to wait; the credit
    // that came back with 'three' took what the socket held.
    expect(dataOf(ID_B)).toBe('two');
    expect(dataOf(ID_A)).toBe('onethreefour');
    expect(first.readableLength).toBe(0);
  });

  it('serves a drain until a client fills the tunnel again; the others keep their bytes for the next one', async () => {
    const { tunnel, congested, dataOf, congestOnNextWrite } = setup();
    const first = socket();
    const second = socket();
    connectSocket(tunnel.open(A), first);
    connectSocket(tunnel.open(B), second);
    congested.next(true);
    first.push('a');
    second.push('b');
    await ticks();
    congestOnNextWrite();
    congested.next(false);
    expect(dataOf(ID_A)).toBe('a');
    expect(dataOf(ID_B)).toBe('');
    second.push('c');
    await ticks();
    expect(dataOf(ID_B)).toBe('');
    expect(second.readableLength).toBe(1);

    congested.next(false);
    expect(dataOf(ID_B)).toBe('bc');
  });

  it('sends nothing to a client the remote paused, congested or not', async () => {
    const { tunnel, congested, dataOf } = setup();
    const stream = socket();
    const client = tunnel.open(A);
    connectSocket(client, stream);
    internal(client).receive('pause', new Uint8Array(0));
    stream.push('not yet');
    await ticks();
    congested.next(true);
    congested.next(false);
    await ticks();
    expect(dataOf(ID_A)).toBe('');
    expect(stream.readableLength).toBe(7);

    internal(client).receive('resume', new Uint8Array(0));
    await ticks();
    expect(dataOf(ID_A)).toBe('not yet');
  });

  it('holds a chunk read in a congestion while the remote pauses and resumes, and sends it at the drain', async () => {
    const { tunnel, congested, dataOf } = setup();
    const stream = socket();
    const client = tunnel.open(A);
    connectSocket(client, stream);
    congested.next(true);
    stream.push('held');
    await ticks();
    internal(client).receive('pause', new Uint8Array(0));
    internal(client).receive('resume', new Uint8Array(0));
    await ticks();
    expect(dataOf(ID_A)).toBe('');
    congested.next(false);
    expect(dataOf(ID_A)).toBe('held');
  });

  it('sends a chunk held back for a remote pause before the end that followed it', async () => {
    const { tunnel, kindsOf, dataOf } = setup();
    const stream = socket();
    const client = tunnel.open(A);
    connectSocket(client, stream);
    internal(client).receive('pause', new Uint8Array(0));
    stream.push('abc');
    stream.push(null);
    await ticks();
    expect(kindsOf(ID_A)).toEqual(['connection']);
    internal(client).receive('resume', new Uint8Array(0));
    await ticks();
    await ticks();
    expect(kindsOf(ID_A)).toEqual(['connection', 'data', 'end']);
    expect(dataOf(ID_A)).toBe('abc');
  });

  it('reads a socket to its end when its client finishes cleanly, so that it closes', async () => {
    const { tunnel, dataOf } = setup();
    const stream = socket();
    const client = tunnel.open(A);
    connectSocket(client, stream);
    internal(client).receive('pause', new Uint8Array(0));
    stream.push('late');
    stream.push(null);
    let ended = false;
    stream.on('end', () => (ended = true));
    await ticks();
    expect(stream.readableLength).toBe(4);
    client.destroy();
    await ticks();
    expect(ended).toBe(true);
    // What the socket read after the client finished went nowhere.
    expect(dataOf(ID_A)).toBe('');
  });

  it('lets a socket read its end when a watcher before it finishes the client on a remote pause', async () => {
    const { tunnel } = setup();
    const client = tunnel.open(A);
    // Watching before connectSocket does: told of the pause first, it ends the client.
    client.writable$.subscribe((writable) => {
      if (!writable) client.destroy();
    });
    const stream = socket();
    let ended = false;
    stream.on('end', () => (ended = true));
    connectSocket(client, stream);
    internal(client).receive('pause', new Uint8Array(0));
    expect(client.closed).toBe(true);
    stream.push(null);
    await ticks();
    expect(ended).toBe(true);
  });

  it('lets a paused socket read its end when joined to a client that already finished', async () => {
    const { tunnel } = setup();
    const stream = socket();
    stream.pause();
    const client = tunnel.open(A);
    client.destroy();
    connectSocket(client, stream);
    stream.push(null);
    let ended = false;
    stream.on('end', () => (ended = true));
    await ticks();
    expect(ended).toBe(true);
  });

  it("resumes the remote once the socket has written what paused it, though that never passed the socket's own mark", async () => {
    const scripted = scriptedTransport(new Subject<Uint8Array>());
    const tunnel = createTunnel(scripted.transport, { highWaterMark: 32 * 1024, lowWaterMark: 8 * 1024 });
    const client = tunnel.open(A);
    // A socket with Node 22's default mark (64 KiB): 40 KiB never makes write() return false,
    // so it never emits 'drain'.
    const held: Array<() => void> = [];
    const stream = new Duplex({
      writableHighWaterMark: 64 * 1024,
      read() {},
      write(_chunk, _encoding, callback) {
        held.push(callback);
      },
    });
    connectSocket(client, stream);
    const kinds = (): string[] => scripted.written.filter((frame) => frame.id === ID_A).map((frame) => frame.kind);
    internal(client).receive('data', Buffer.alloc(40 * 1024));
    expect(kinds()).toEqual(['connection', 'pause']);
    while (held.length > 0) {
      (held.shift() as () => void)();
      await ticks();
    }
    expect(stream.writableLength).toBe(0);
    expect(kinds()).toEqual(['connection', 'pause', 'resume']);
  });
});
