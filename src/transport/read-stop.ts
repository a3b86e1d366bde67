/**
 * Stopping a plain TCP socket's reads at its handle, so that what it was sent waits in the kernel.
 *
 * A paused `net.Socket` still reads one chunk ahead (up to 64 KiB) before it stops: Node stops
 * reading only once that chunk fills its buffer. When a thousand visitors send at once into a
 * congested tunnel, that is 64 MiB read and held in the process for as long as the visitors
 * wait their turns: long enough for V8 to promote every chunk, and for the dead ones to cost a
 * full collection each time 64 MB of them pile up. Node has no public way to stop an accepted
 * socket's reads (the `onread` option that makes `pause()` do it exists only for sockets a
 * process opens itself), so this reaches the socket's handle, the way Node's own `pause()` does
 * with `onread`, and leaves the bytes in the kernel until the socket's turn.
 *
 * Only where it is known to be safe: a plain `net.Socket` (not TLS: its handle decrypts, and a
 * stop there is not a stop of the TCP reads), connected, flowing, whose handle has the shape
 * Node 20 and 22 give it. Anything else is left alone, and a caller falls back to what a paused
 * socket does.
 */
import type { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { TransportError } from './errors.js';
import { isPlainTcpSocket } from './socket.js';

interface ReadHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/** Whether Node has a read pending on the stream (it waits for `push`, so it will not call `_read`). */
function readPending(stream: Duplex): boolean {
  return (stream as unknown as { _readableState?: { reading?: unknown } })._readableState?.reading === true;
}

function readHandle(stream: Duplex): ReadHandle | undefined {
  if (!isPlainTcpSocket(stream) || stream.destroyed || stream.connecting) return undefined;
  const handle = (stream as unknown as { _handle?: Partial<ReadHandle> | null })._handle;
  if (!handle || typeof handle.reading !== 'boolean' || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') {
    return undefined;
  }
  return handle as ReadHandle;
}

/**
 * Bytes a plain TCP socket has read so far; undefined for any other stream (never stopped).
 */
export function bytesReadBy(stream: Duplex): number | undefined {
  return isPlainTcpSocket(stream) ? stream.bytesRead : undefined;
}

/**
 * Stops a flowing socket's reads at its handle, before it reads its next chunk. Returns whether
 * it did: false for a socket that is paused (Node stops it by itself once its read-ahead chunk
 * arrives), not reading, ended, or not a plain TCP socket, and for one without a read pending
 * (inside its own `'data'` handler, say), which Node would start again by itself at once. A
 * stopped socket reads again only through {@link startReading}: Node still believes a read is
 * pending, so `resume()` alone does not restart it.
 */
export function stopReading(stream: Duplex): boolean {
  // Ended: its end has been read, and a handle started again would read it once more.
  if (stream.isPaused() || !stream.readable || !readPending(stream)) return false;
  const handle = readHandle(stream);
  if (!handle?.reading) return false;
  // As Node does it: the flag first, so that its own `_read` starts the handle again should
  // anything call it.
  handle.reading = false;
  if (handle.readStop() !== 0) {
    handle.reading = true;
    return false;
  }
  return true;
}

/** Starts again the reads {@link stopReading} stopped; nothing for a closed socket. */
export function startReading(stream: Duplex): void {
  const handle = readHandle(stream);
  if (!handle || handle.reading) return;
  handle.reading = true;
  const status = handle.readStart();
  if (status !== 0) {
    handle.reading = false;
    stream.destroy(new TransportError('E_TRANSPORT_ERROR', `the socket could not read again: ${getSystemErrorName(status)}`));
  }
}
