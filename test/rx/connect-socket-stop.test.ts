/**
 * connectSocket with a real TCP socket that a burst stops at its handle: what it was sent
 * meanwhile stays in the kernel and arrives, in order, with its end, once the socket's turn
 * comes; a socket left by its client (closed tunnel, detached) reads again.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '../../src/rx/client.js';
import { connectSocket } from '../../src/rx/connect-socket.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { listen, until, within } from '../support/index.js';
import { A, scriptedTransport } from './helpers.js';

// The burst size the tunnel documents (BURST_WAITERS in src/rx/tunnel.ts).
const BURST = 16;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Written, and so (on loopback) already in the receiving socket's kernel buffer. */
function written(socket: Socket, bytes: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

async function polls(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A tunnel over a scripted transport, a visitor socket joined to it that has carried `a`, then
 * a congestion in which 16 other clients wait: a burst, which stops the visitor's socket.
 * `serve()` ends the congestion (everyone is served); `burst()` makes another.
 */
async function stoppedVisitor() {
  const scripted = scriptedTransport(new Subject<Uint8Array>(), { flushes: true });
  const tunnel = createTunnel(scripted.transport);
  cleanups.push(() => tunnel.destroy());
  const server = createServer({ pauseOnConnect: true });
  const port = await listen(server, async (close) => void cleanups.push(close));
  const peer = connect(port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  cleanups.push(() => {
    peer.destroy();
    accepted.destroy();
  });
  const client = tunnel.open({ ...A, port: 5000 });
  const joined = connectSocket(client, accepted);
  const events = (): string[] =>
    scripted.written
      .filter((frame) => frame.id === client.id && frame.kind !== 'connection')
      .map((frame) => (frame.kind === 'data' ? Buffer.from(frame.data).toString() : frame.kind));

  await written(peer, 'a');
  await until(() => events().join('') === 'a', 'the first byte through');

  const others: Client[] = [];
  for (let port = 1; port <= BURST; port++) {
    const other = tunnel.open({ ...A, port });
    other.watchWritable(() => {}, undefined, { lazy: true });
    others.push(other);
  }
  const burst = (): void => {
    scripted.congested.next(true);
    for (const other of others) expect(other.write(Buffer.alloc(1))).toBe(false);
  };
  burst();
  // Stopped, not held back: what the visitor sends now is not read.
  expect(client.writable).toBe(false);
  const readBefore = accepted.bytesRead;
  const serve = (): void => {
    scripted.queue.buffered = 0;
    scripted.congested.next(false);
  };
  return { tunnel, client, joined, peer, accepted, events, readBefore, serve, burst };
}

describe('connectSocket, a socket stopped by a burst', () => {
  it('reads nothing until its turn, then what it was sent and its end, in order', async () => {
    const { peer, accepted, events, readBefore, serve } = await stoppedVisitor();
    await written(peer, 'b');
    await written(peer, 'c');
    peer.end();
    await polls(5);
    expect(accepted.bytesRead).toBe(readBefore);
    expect(events()).toEqual(['a']);

    serve();
    await until(() => events().at(-1) === 'end', 'the stopped socket reading after its turn came');
    expect(events().join('')).toBe('abcend');
  });

  it('reads its end and closes when its client is finished while it is stopped', async () => {
    const { tunnel, peer, accepted } = await stoppedVisitor();
    tunnel.close();
    peer.end();
    await within(once(accepted, 'close'), 5_000, 'the stopped socket closing after the tunnel closed');
  });

  it('is left alone at the next burst if it read nothing since: it reads ahead and holds back', async () => {
    const { peer, accepted, client, events, serve, burst } = await stoppedVisitor();
    serve();
    // Served, started again, and nothing to read: an idle connection.
    await polls(5);
    expect(client.writable).toBe(true);
    const readBefore = accepted.bytesRead;
    burst();
    await written(peer, 'b');
    // Read (one chunk ahead, held back), where a stopped socket would have read nothing.
    await until(() => accepted.bytesRead > readBefore, 'the idle socket reading ahead');
    expect(events()).toEqual(['a']);
    serve();
    expect(events()).toEqual(['a', 'b']);
  });

  it('is stopped again at a later burst once it has read since', async () => {
    const { peer, accepted, client, events, serve, burst } = await stoppedVisitor();
    await written(peer, 'b');
    serve();
    await until(() => events().join('') === 'ab', 'the byte sent while stopped');
    expect(client.writable).toBe(true);
    const readBefore = accepted.bytesRead;
    burst();
    await written(peer, 'c');
    await polls(5);
    expect(accepted.bytesRead).toBe(readBefore);
    serve();
    await until(() => events().join('') === 'abc', 'the byte sent while stopped again');
  });

  it('reads again once detached from its client', async () => {
    const { joined, peer, accepted } = await stoppedVisitor();
    joined.unsubscribe();
    let got = '';
    accepted.on('data', (chunk: Buffer) => (got += chunk.toString()));
    accepted.resume();
    await written(peer, 'hello');
    await until(() => got === 'hello', 'the detached socket reading');
  });
});
