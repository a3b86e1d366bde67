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
 * - socket → client: the socket is read while the client has credit (its last write has left for
 *   the transport and the remote has not paused it) and left unread otherwise. The socket's `end`
 *   ends the client; a socket error destroys the client with that error (the remote gets
 *   `{message, code}`).
 * - client → socket: every inbound chunk is written; the socket's `writableLength` is reported
 *   as the client's consumer backlog, at each write and as each write leaves the socket, so a
 *   slow socket pauses the remote past 1 MiB and resumes it at 128 KiB. The remote's `end` ends
 *   the socket once its buffer is flushed; the remote's `error` resets it.
 *
 * A socket closed without an end destroys the client; a client that finishes lets the socket
 * read its end (or resets it, if the client failed).
 *
 * Give the socket a `readableHighWaterMark` of 0 (`net.createServer({ highWaterMark: 0 })`,
 * `net.connect({ readableHighWaterMark: 0, … })`) and a client without credit holds nothing of
 * it in the process; otherwise the socket reads ahead up to its mark.
 *
 * Returns a subscription; unsubscribing detaches without closing either side (what the socket
 * holds stays unread). It detaches by itself once the socket has closed.
 */
export function connectSocket(client: Client, socket: ConnectableSocket): Subscription {
  // Plain listeners and the client's own hooks (sinkInto, watchCredit) rather than data$ and
  // writable$: no Observable or Subscriber per visitor.
  const joined = client as MproxyClient;
  // Called after every write leaves the socket's buffer, not only at 'drain': 'drain' comes only
  // after a write passed the socket's writableHighWaterMark (64 KiB from Node 22), and a backlog
  // above the client's low watermark but below that mark would never be reported as gone (the
  // remote, paused, would never hear `resume`).
  const report = (): void => client.setConsumerBacklog(socket.writableLength);

  // Read in paused mode, one read() per credit (see fromReadable): a client without credit leaves
  // its socket unread, and a socket made with readableHighWaterMark 0 (the relay's visitors, the
  // device's local connections) then leaves what it is sent in the kernel. A write into a
  // congestion or to a paused remote waits in the client's lane and takes its credit. A finished
  // client takes nothing: its socket is read to its end (and closes) rather than left idling.
  // Called again from inside a write (credit coming back), it lets the running loop go on.
  let reading = false;
  const onReadable = (): void => {
    if (reading) return;
    reading = true;
    try {
      let chunk: Buffer | string | null;
      while ((client.closed || client.writable) && (chunk = socket.read() as Buffer | string | null) !== null) {
        if (!client.closed) client.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    } finally {
      reading = false;
    }
  };
  const onEnd = (): void => client.end();
  const onError = (error: Error): void => client.destroy(error);
  const onClose = (): void => {
    // Closed without an end or an error (destroyed locally): the remote must still hear of it.
    if (!client.closed) client.destroy();
    subscription.unsubscribe();
  };
  socket.on('readable', onReadable);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  const detach = joined.sinkInto({
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
  });
  const unwatch = joined.watchCredit({
    next(writable) {
      if (writable) onReadable();
    },
    // A client that fails after its inbound side completed (half-closed when the tunnel went
    // away) gets no error on its bytes: the socket must not be left open all the same.
    complete() {
      if (socket.destroyed) return;
      if (client.errored) abortStream(socket);
      else onReadable();
    },
  });
  const subscription = new Subscription(() => {
    detach();
    unwatch();
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
  });
  return subscription;
}
