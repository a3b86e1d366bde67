import type { Duplex } from 'node:stream';
import { Subscription } from 'rxjs';
import { bytesReadBy, startReading, stopReading } from '../transport/read-stop.js';
import { abortStream } from '../transport/socket.js';
import type { Client } from './client.js';

/** What a socket reads at once (libuv's read size): the room a socket starting again will take. */
const READ_SIZE = 64 * 1024;

/** What {@link connectSocket} needs of a socket: a Node duplex with a write buffer. */
export type ConnectableSocket = Duplex;

/**
 * Joins a client to a local socket (a visitor's, or a connection to a local service), with
 * backpressure both ways and a clean shutdown from either side:
 *
 * - client → socket: every inbound chunk is written; the socket's `writableLength` is reported
 *   as the client's consumer backlog, so a slow socket pauses the remote and its `drain`
 *   resumes it. The remote's `end` ends the socket once its buffer is flushed; the remote's
 *   `error` destroys it.
 * - socket → client: the socket is read only while the client is writable. A remote `pause`
 *   stops it at once (nothing is sent to a paused client). A congestion of the tunnel is not
 *   told to the socket: the chunk it reads next finds the client unwritable, goes back to the
 *   socket and stops it, and when the client's turn comes that chunk is handed over before the
 *   socket flows again.
 *   Nothing is sent into a congestion, and it costs a pause per socket that has something to
 *   send, none for the others. When many clients wait at once (a burst), a plain TCP socket
 *   still flowing is stopped before it reads (see transport/read-stop.ts), its bytes left in
 *   the kernel until its turn. The socket's `end` ends the client; a socket error destroys
 *   the client with that error (the remote gets `{message, code}`).
 *
 * Returns a subscription; unsubscribing detaches without closing either side. It detaches by
 * itself once the socket has closed.
 */
export function connectSocket(client: Client, socket: ConnectableSocket): Subscription {
  const subscription = new Subscription();
  // Whether the tunnel had the socket stop reading (see Client.watchWritable's `stop`): its
  // next chunk is still in the kernel, and only startReading gets it read.
  let stopped = false;
  // What the socket had read when it was last stopped (-1: never).
  let readWhenStopped = -1;
  const stop = (): boolean => {
    if (stopped) return true;
    const read = bytesReadBy(socket);
    // A socket stopped before that has read nothing since is left alone: an idle connection
    // stopped at every burst would be served alone each time, room held for a chunk it never
    // reads, while the busy ones wait behind it (1000 idle visitors cost 20 busy ones a fifth
    // of their throughput). Should it wake meanwhile, it reads ahead one chunk, as every socket
    // did. Streams that cannot be stopped have no count and are left alone too.
    if (read === undefined || read === readWhenStopped) return false;
    stopped = stopReading(socket);
    if (stopped) readWhenStopped = read;
    return stopped;
  };
  const start = (): void => {
    if (!stopped) return;
    stopped = false;
    startReading(socket);
  };
  const report = (): void => client.setConsumerBacklog(socket.writableLength);

  subscription.add(
    client.data$.subscribe({
      next(chunk) {
        if (socket.destroyed) return;
        socket.write(chunk);
        report();
      },
      complete() {
        if (!socket.destroyed) socket.end();
      },
      error() {
        // The remote failed this client: no graceful flush makes sense any more.
        abortStream(socket);
      },
    }),
  );

  const onData = (chunk: Buffer): void => {
    // Read after the client finished (the socket was resumed to take its EOF): nowhere to go.
    if (client.closed) return;
    // Read while the remote has the client paused (nothing may be sent then) or while the
    // tunnel is congested (a socket is told of that only when it has something to send): the
    // chunk goes back, to be read again once writing is welcome, and the socket stops.
    if (!client.writable) {
      socket.pause();
      socket.unshift(chunk);
      // The watcher below now holds `false`, and will be told when the client's turn comes.
      client.writableChanged();
      return;
    }
    if (!client.write(chunk)) socket.pause();
  };
  const onEnd = (): void => client.end();
  const onError = (error: Error): void => client.destroy(error);
  const onClose = (): void => {
    // Closed without an end or an error (destroyed locally): the remote must still hear of it.
    if (!client.closed) client.destroy();
    subscription.unsubscribe();
  };
  socket.on('data', onData);
  socket.on('drain', report);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  // A client that fails after its inbound side completed (half-closed when the tunnel went
  // away) gets no data$ error: the socket must not be left open all the same. (Heard through
  // the watcher's onDone rather than a closed$ subscription: one object less per socket.)
  // A clean finish resumes a socket left paused (by a remote pause or a congestion), so that
  // it reads its EOF and closes rather than idling open forever.
  const onDone = (): void => {
    if (socket.destroyed) return;
    if (client.errored) abortStream(socket);
    else {
      start();
      socket.resume();
    }
  };
  // Lazy: a congestion is told only to the clients that have something to send into it (see
  // Client.watchWritable), so it costs the busy sockets a pause each and the others nothing.
  const onWritable = (writable: boolean): void => {
    if (!writable) {
      socket.pause();
      return;
    }
    if (stopped) {
      // Nothing held to hand over: its chunk is yet to be read, next time the loop polls. Room
      // is held for it until then, or the tunnel would serve every stopped socket at once and
      // they would all read into one congestion again.
      start();
      client.reserveRoom(READ_SIZE);
      // Two hops: the first check phase may come before that poll (when served from a flush,
      // in this poll phase); the second comes after it. Written by then, the room is no longer
      // held; not, the socket had nothing to send and the room goes to others.
      setImmediate(() => setImmediate(() => client.releaseRoom()));
      socket.resume();
      return;
    }
    if (!socket.isPaused()) return;
    // What the socket holds goes out now, not a tick later when it flows again: the tunnel
    // serves waiting clients in order while its queue has room and stops when it has none
    // (Tunnel#serve), so that serving costs the clients served, not every waiting one.
    // (read() hands what it returns to onData as a 'data' event.)
    while (socket.readableLength > 0 && client.writable) {
      if (socket.read() === null) break;
    }
    if (client.writable) socket.resume();
  };
  subscription.add(client.watchWritable(onWritable, onDone, { lazy: true, stop }));
  subscription.add(() => {
    // Detached: the socket is left as a paused socket is, not stopped where only we know it.
    start();
    socket.off('data', onData);
    socket.off('drain', report);
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
