import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { StreamTransport } from './stream.js';
import type { Transport, TransportOptions } from './transport.js';

class SocketTransport extends StreamTransport {
  protected override destroyCarrier(): void {
    abortStream(this.stream);
  }
}

/**
 * Closes a stream that was cut short. A TCP socket is reset: a plain destroy sends a FIN when
 * nothing is left unread, which the peer takes for a clean end (a truncated reply would pass for
 * a whole one). TLS sockets cannot be reset through their TLS handle; other streams are destroyed.
 */
export function abortStream(stream: Readable | Writable): void {
  if (stream instanceof Socket && !(stream instanceof TLSSocket) && !stream.destroyed) stream.resetAndDestroy();
  else stream.destroy();
}

/**
 * Wraps a `net.Socket` or `tls.TLSSocket`, connected or still connecting (writes queue until
 * the connection is up).
 *
 * - `bufferedAmount` is `socket.writableLength`: bytes written but not yet taken by the kernel.
 * - `congested$` clears on write callbacks, not on the socket's `'drain'` event, which only
 *   fires when the socket's own (16 KiB) buffer empties.
 * - `destroy()` resets a TCP connection, so the peer sees an error rather than a clean end.
 * - Nagle's algorithm is turned off (`setNoDelay(true)`): control frames are small and urgent.
 * - Once the remote ends, the transport ends its own side too (no half-open state).
 *
 * Hand the socket over before anything reads it: it is paused until `incoming$` is subscribed.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks.
 */
export function fromSocket(socket: Socket | TLSSocket, options?: TransportOptions): Transport {
  // Small frames (pause, resume, end, control) must not wait for Nagle's algorithm: a tunnel's
  // flow control runs on them. Frames are written whole (header and body in one writev), so
  // nothing is gained by coalescing in the kernel.
  socket.setNoDelay(true);
  return new SocketTransport(socket, options);
}
