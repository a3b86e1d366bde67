/**
 * Stopping a socket's reads at its handle: bytes stay in the kernel until the socket reads
 * again, and nothing is lost or reordered on the way, its end included.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesReadBy, startReading, stopReading } from '../../src/transport/read-stop.js';
import { listen, selfSignedCertificate, until } from '../support/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A connected pair on 127.0.0.1: `accepted` is the server's side, flowing into `received`. */
async function pair(): Promise<{ accepted: Socket; peer: Socket; received: Buffer[]; ended: Promise<unknown> }> {
  const server: Server = createServer({ allowHalfOpen: true });
  const port = await listen(server, (cleanup) => cleanups.push(cleanup));
  const peer = connect(port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  cleanups.push(() => {
    peer.destroy();
    accepted.destroy();
  });
  await once(peer, 'connect');
  const received: Buffer[] = [];
  accepted.on('data', (chunk: Buffer) => received.push(chunk));
  const ended = once(accepted, 'end');
  return { accepted, peer, received, ended };
}

/** Written, and so (on loopback) already in the receiving socket's kernel buffer. */
function written(socket: Socket, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** Lets the event loop poll `n` times. */
async function polls(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('stopReading / startReading', () => {
  it('leaves bytes in the kernel while stopped, then reads them all, in order, and the end', async () => {
    const stopped = await pair();
    const control = await pair();
    expect(stopReading(stopped.accepted)).toBe(true);

    await written(stopped.peer, 'first ');
    await written(control.peer, 'first ');
    // The control socket, reading, has its bytes by now; the stopped one has read nothing.
    await polls(5);
    expect(Buffer.concat(control.received).toString()).toBe('first ');
    expect(stopped.received).toEqual([]);
    expect(stopped.accepted.bytesRead).toBe(0);

    await written(stopped.peer, 'second');
    stopped.peer.end();
    await polls(5);
    expect(stopped.received).toEqual([]);

    startReading(stopped.accepted);
    await stopped.ended;
    expect(Buffer.concat(stopped.received).toString()).toBe('first second');
  });

  it('restarts a socket that was paused meanwhile once it is resumed', async () => {
    const { accepted, peer, received, ended } = await pair();
    expect(stopReading(accepted)).toBe(true);
    accepted.pause();
    await written(peer, 'held in the kernel');
    peer.end();
    startReading(accepted);
    // Paused: Node takes the bytes into its buffer, emitting nothing.
    await polls(5);
    expect(received).toEqual([]);
    accepted.resume();
    await ended;
    expect(Buffer.concat(received).toString()).toBe('held in the kernel');
  });

  it('does nothing to what it cannot stop: a paused socket, a TLS socket, a closed one, another stream', async () => {
    const { accepted } = await pair();
    accepted.pause();
    expect(stopReading(accepted)).toBe(false);
    accepted.resume();
    accepted.destroy();
    expect(stopReading(accepted)).toBe(false);
    // Nothing to start again on a closed socket, and no error for trying.
    expect(() => startReading(accepted)).not.toThrow();

    expect(stopReading(new PassThrough())).toBe(false);
    // Only what can be stopped has a count to tell an idle socket by.
    expect(bytesReadBy(accepted)).toBe(0);
    expect(bytesReadBy(new PassThrough())).toBeUndefined();

    const pems = await selfSignedCertificate('localhost');
    const tlsServer = createTlsServer({ key: pems.key, cert: pems.cert }, (socket) => socket.resume());
    const port = await listen(tlsServer, (cleanup) => cleanups.push(cleanup));
    const tls: TLSSocket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
    cleanups.push(() => void tls.destroy());
    await once(tls, 'secureConnect');
    tls.on('data', () => {});
    expect(stopReading(tls)).toBe(false);
    expect(bytesReadBy(tls)).toBeUndefined();
  });

  it('does not stop a socket from within its own data handler, where Node reads again at once', async () => {
    const { accepted, peer, received, ended } = await pair();
    const answers: boolean[] = [];
    accepted.on('data', () => answers.push(stopReading(accepted)));
    await written(peer, 'one');
    await until(() => answers.length > 0, 'a first chunk');
    await written(peer, 'two');
    peer.end();
    await ended;
    expect(answers.every((answer) => !answer)).toBe(true);
    expect(Buffer.concat(received).toString()).toBe('onetwo');
  });

  it('leaves a socket that is reading as it is when asked to start', async () => {
    const { accepted, peer, received, ended } = await pair();
    startReading(accepted);
    await written(peer, 'flowing');
    peer.end();
    await ended;
    expect(Buffer.concat(received).toString()).toBe('flowing');
  });
});
