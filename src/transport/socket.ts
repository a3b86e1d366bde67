import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { StreamTransport } from './stream.js';
import type { Transport, TransportOptions } from './transport.js';

export { abortStream } from './stream.js';

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
  return new StreamTransport(socket, options);
}
