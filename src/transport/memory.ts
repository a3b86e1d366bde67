import { TransportBase } from './base.js';
import { TransportError } from './errors.js';
import type { Transport, TransportOptions } from './transport.js';

class MemoryTransport extends TransportBase {
  #peer!: MemoryTransport;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #delivery: NodeJS.Immediate | undefined;
  #endSent = false;

  constructor(options?: TransportOptions, peer?: MemoryTransport) {
    super(options);
    if (!peer) return;
    this.#peer = peer;
    peer.#peer = this;
  }

  get bufferedAmount(): number {
    return this.#queuedBytes;
  }

  protected sendChunk(chunk: Uint8Array): void {
    // A copy, as a wire would make: the two sides never share memory.
    this.#enqueue(new Uint8Array(chunk));
  }

  protected sendChunks(chunks: readonly Uint8Array[]): void {
    this.#enqueue(Buffer.concat(chunks));
  }

  protected startReading(): void {
    this.#peer.#schedule();
  }

  protected stopReading(): void {
    // Nothing to pause: the peer checks isReading before each delivery.
  }

  protected closeCarrier(): void {
    this.#schedule();
  }

  protected destroyCarrier(): void {
    this.#drop();
    this.#peer.#drop();
    this.#peer.finish(new TransportError('E_TRANSPORT_CLOSED', 'the peer transport was destroyed'));
  }

  #enqueue(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    this.#schedule();
  }

  /**
   * Delivery runs in a setImmediate, not a microtask: like bytes from a socket, it lets a
   * writing loop finish and I/O and timers run in between, and a producer that writes on every
   * delivery cannot starve the event loop.
   */
  #schedule(): void {
    if (this.#delivery || this.isClosed) return;
    this.#delivery = setImmediate(() => this.#deliver());
  }

  #deliver(): void {
    this.#delivery = undefined;
    const peer = this.#peer;
    // Re-checked per chunk: the subscriber may unsubscribe from inside next().
    while (this.#queue.length > 0 && peer.isReading && !this.isClosed) {
      const chunk = this.#queue.shift()!;
      this.#queuedBytes -= chunk.byteLength;
      peer.received(chunk);
    }
    this.flushed();
    // The end needs no reader, only an empty queue: it is a flag, not bytes.
    if (this.#queue.length === 0 && !this.isOpen && !this.isClosed && !this.#endSent) {
      this.#endSent = true;
      peer.receivedEnd();
      // Not half-open, like a socket with allowHalfOpen off: the peer's end closes that side too.
      peer.close();
      // Both sides are through once the second end is sent.
      if (!peer.#endSent) return;
      peer.finish();
      this.finish();
    }
  }

  #drop(): void {
    if (this.#delivery) clearImmediate(this.#delivery);
    this.#delivery = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
  }
}

/**
 * Two transports joined in memory, for tests: no sockets, but the same queueing, backpressure
 * and closing behaviour a real carrier has. What one side writes arrives on the other's
 * `incoming$`, in order, as copies, delivered in a later `setImmediate` turn (never
 * synchronously inside `write`).
 *
 * - Bytes wait in the writer's queue until the reader subscribes; `bufferedAmount` counts them,
 *   so an absent or paused reader makes `write` return false past `highWaterMark`, and the
 *   writer's `congested$` turns false once the reader has taken them.
 * - `close()` delivers the queue, then completes the peer's `incoming$`; the peer then closes
 *   its side the same way, and each side's `closed$` emits once both ends are through.
 * - `destroy(error)` drops both queues and fails the peer with `E_TRANSPORT_CLOSED`.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks.
 */
export function memoryPair(options?: TransportOptions): [Transport, Transport] {
  const a = new MemoryTransport(options);
  return [a, new MemoryTransport(options, a)];
}
