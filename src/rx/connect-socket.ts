import type { Duplex } from 'node:stream';
import { Subscription } from 'rxjs';
import { abortStream } from '../transport/socket.js';
import type { Client, MproxyClient } from './client.js';

/** What {@link connectSocket} needs of a socket: a Node duplex with a write buffer. */
export type ConnectableSocket = Duplex;

/**
 * Joins a client to a local socket (a visitor's, or a connection to a local service), with
 * backpressure both ways and a clean shutdown from either side. It does what the pipelines
 *
 * ```ts
 * pull((ready$) => fromReadable(socket, ready$), toClient(client)); // socket → client
 * pull((ready$) => fromClient(client, ready$), toWritable(socket)); // client → socket
 * ```
 *
 * do, with the same rules, written out with plain listeners: a relay has one per visitor, and
 * the two pipelines' subscriptions cost several KiB per idle visitor.
 *
 * - socket → client: the socket flows while the client has credit (its last write has left for
 *   the transport and the remote has not paused it) and is paused otherwise. The socket's `end`
 *   ends the client; a socket error destroys the client with that error (the remote gets
 *   `{message, code}`).
 * - client → socket: every inbound chunk is written; the socket's `writableLength` is reported
 *   as the client's consumer backlog, at each write and as each write leaves the socket, so a
 *   slow socket pauses the remote past 1 MiB and resumes it at 128 KiB. The remote's `end` ends the socket once its buffer is flushed; the
 *   remote's `error` resets it.
 *
 * A socket closed without an end destroys the client; a client that finishes lets a paused
 * socket read its end (or resets it, if the client failed).
 *
 * Returns a subscription; unsubscribing detaches without closing either side (the socket is
 * left paused). It detaches by itself once the socket has closed.
 */
export function connectSocket(client: Client, socket: ConnectableSocket): Subscription {
  const subscription = new Subscription();
  // Called after every write leaves the socket's buffer, not only at 'drain': 'drain' comes only
  // after a write passed the socket's writableHighWaterMark (64 KiB from Node 22), and a backlog
  // above the client's low watermark but below that mark would never be reported as gone (the
  // remote, paused, would never hear `resume`).
  const report = (): void => client.setConsumerBacklog(socket.writableLength);

  subscription.add(
    client.data$.subscribe({
      next(chunk) {
        if (socket.destroyed) return;
        socket.write(chunk, report);
        report();
      },
      complete() {
        if (!socket.destroyed && !socket.writableEnded) socket.end();
      },
      error() {
        // The remote failed this client: no graceful flush makes sense any more.
        abortStream(socket);
      },
    }),
  );

  const onData = (chunk: Buffer | string): void => {
    // Read after the client finished (the socket was resumed to take its end): nowhere to go.
    if (client.closed) return;
    // A write into a congestion or to a paused remote waits in the client's lane and takes its
    // credit: the watcher below pauses the socket.
    client.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  const onEnd = (): void => client.end();
  const onError = (error: Error): void => client.destroy(error);
  const onClose = (): void => {
    // Closed without an end or an error (destroyed locally): the remote must still hear of it.
    if (!client.closed) client.destroy();
    subscription.unsubscribe();
  };
  // Paused before the 'data' listener goes on: a socket never paused would start flowing with it.
  const unwatch = (client as MproxyClient).watchCredit({
    next(writable) {
      if (writable) socket.resume();
      else socket.pause();
    },
    // A client that fails after its inbound side completed (half-closed when the tunnel went
    // away) gets no error on its bytes: the socket must not be left open all the same. A clean
    // finish resumes a paused socket, so that it reads its end and closes rather than idling.
    complete() {
      if (socket.destroyed) return;
      if (client.errored) abortStream(socket);
      else socket.resume();
    },
  });
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  subscription.add(() => {
    unwatch();
    // Detached from a live socket: paused, so that nothing it reads is lost before its next reader.
    if (!socket.destroyed) socket.pause();
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
  });
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
