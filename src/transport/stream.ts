/**
 * A transport over a Node duplex stream: `write`/`cork` to send, `'data'` with
 * `pause`/`resume` to read, write callbacks to follow the queue.
 */
import { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { TransportBase } from './base.js';
import { TransportError } from './errors.js';
import type { Transport, TransportOptions } from './transport.js';

/** @internal Shared by {@link fromDuplex} and `fromSocket` (a TCP socket destroyed is reset: see {@link abortStream}). */
export class StreamTransport extends TransportBase {
  protected readonly stream: Duplex;
  #ended = false;
  // One callback for every write: allocating a closure per chunk would buy nothing.
  readonly #onWritten = (): void => this.flushed();

  constructor(stream: Duplex, options?: TransportOptions) {
    super(options);
    this.stream = stream;
    // Paused before the 'data' listener goes on, so that adding it does not start the flow.
    stream.pause();
    stream.on('data', (chunk: Buffer | string) => {
      // Closing, and nobody reads: drop rather than pile up a backlog no one will take.
      if (!this.isOpen && !this.isReading) return;
      this.received(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    });
    stream.on('end', () => {
      this.#ended = true;
      this.receivedEnd();
      // A transport is not half-open: once the remote is done, flush our side and close too.
      this.close();
    });
    stream.on('error', (error: Error) => {
      // Not every duplex emits 'close' after 'error' (autoDestroy may be off): settle now.
      this.finish(new TransportError('E_TRANSPORT_ERROR', `stream failed: ${error.message}`, { cause: error }));
      stream.destroy();
    });
    stream.on('close', () => {
      this.finish(this.#ended ? undefined : new TransportError('E_TRANSPORT_CLOSED', 'stream closed before its end was read'));
    });
    if (stream.destroyed) this.finish(new TransportError('E_TRANSPORT_CLOSED', 'stream was already destroyed'));
  }

  get bufferedAmount(): number {
    return this.stream.writableLength;
  }

  protected sendChunk(chunk: Uint8Array): void {
    this.stream.write(chunk, this.#onWritten);
  }

  protected sendChunks(chunks: readonly Uint8Array[]): void {
    // Corked, the chunks reach the carrier in one _writev call (one syscall for a socket).
    this.stream.cork();
    for (const chunk of chunks) this.stream.write(chunk, this.#onWritten);
    this.stream.uncork();
  }

  protected startReading(): void {
    this.stream.resume();
  }

  protected stopReading(): void {
    // Not while closing: see closeCarrier.
    if (this.isOpen) this.stream.pause();
  }

  /**
   * Ends our side and keeps reading: the peer's end may queue behind bytes it still sends, and
   * a paused stream would never see it, leaving both sides open for good.
   */
  protected closeCarrier(): void {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
    this.stream.resume();
  }

  protected destroyCarrier(): void {
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
 * Wraps a Node duplex stream (a `stream.Duplex.from({ readable, writable })` of a child
 * process's stdio, a pair of `PassThrough`s…).
 *
 * Hand the stream over before anything reads it: the transport pauses it and reads only while
 * `incoming$` is subscribed. The stream must emit `'close'` when done (the default with
 * `autoDestroy`). When the remote end finishes, the transport ends its own side too.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks.
 */
export function fromDuplex(stream: Duplex, options?: TransportOptions): Transport {
  return new StreamTransport(stream, options);
}
