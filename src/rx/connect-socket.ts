import type { Duplex } from 'node:stream';
import { Subscription } from 'rxjs';
import { abortStream } from '../transport/socket.js';
import type { Client } from './client.js';
import { fromClient } from './from-client.js';
import { fromReadable } from './from-readable.js';
import { pull } from './pull.js';
import { toClient } from './to-client.js';
import { toWritable } from './to-writable.js';

/** What {@link connectSocket} needs of a socket: a Node duplex with a write buffer. */
export type ConnectableSocket = Duplex;

const ignore = (): void => {};

/**
 * Joins a client to a local socket (a visitor's, or a connection to a local service), with
 * backpressure both ways and a clean shutdown from either side. It is the two pipelines
 *
 * ```ts
 * pull((ready$) => fromReadable(socket, ready$), toClient(client));
 * pull((ready$) => fromClient(client, ready$), toWritable(socket));
 * ```
 *
 * - socket → client: the socket is read while the client has credit (its last write has left
 *   for the transport and the remote has not paused it). The socket's `end` ends the client; a
 *   socket error destroys the client with that error (the remote gets `{message, code}`).
 * - client → socket: inbound bytes are written while the socket's buffer is below its high
 *   watermark; the rest wait in the client, where they pause the remote past 1 MiB. The
 *   remote's `end` ends the socket once its buffer is flushed; the remote's `error` resets it.
 *
 * A socket closed without an end destroys the client; a client that finishes resumes a paused
 * socket so that it reads its end and closes (or resets it, if the client failed).
 *
 * Returns a subscription; unsubscribing detaches without closing either side (the socket is
 * left paused). It detaches by itself once the socket has closed.
 */
export function connectSocket(client: Client, socket: ConnectableSocket): Subscription {
  const subscription = new Subscription();
  subscription.add(pull((ready$) => fromReadable(socket, ready$), toClient(client)).subscribe({ error: ignore }));
  subscription.add(pull((ready$) => fromClient(client, ready$), toWritable(socket)).subscribe({ error: ignore }));
  const onClose = (): void => {
    // Closed without an end or an error (destroyed locally): the remote must still hear of it.
    if (!client.closed) client.destroy();
    subscription.unsubscribe();
  };
  socket.on('close', onClose);
  subscription.add(() => socket.off('close', onClose));
  // A client that fails after its inbound side completed (half-closed when the tunnel went
  // away) gets no error on its bytes: the socket must not be left open all the same. A clean
  // finish resumes a socket left paused, so that it reads its end and closes rather than idling.
  subscription.add(
    client.closed$.subscribe(({ error }) => {
      if (socket.destroyed) return;
      if (error) abortStream(socket);
      else socket.resume();
    }),
  );
  return subscription;
}

/**
 * {@link connectSocket} as a promise: resolves when both sides are finished (the client closed
 * and the socket closed), with the client's error if it failed.
 */
export function pipeSocket(client: Client, socket: ConnectableSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    connectSocket(client, socket);
    let clientDone: { error?: Error } | undefined;
    let socketClosed = socket.destroyed;
    const settle = (): void => {
      if (!clientDone || !socketClosed) return;
      if (clientDone.error) reject(clientDone.error);
      else resolve();
    };
    client.closed$.subscribe((closed) => {
      clientDone = closed;
      settle();
    });
    if (!socketClosed) {
      socket.once('close', () => {
        socketClosed = true;
        settle();
      });
    }
    settle();
  });
}
