/**
 * A byte duplex as mproxy sees it: the one thing a tunnel needs from a WebSocket, a TCP socket
 * or a Node stream. Implementations live beside this file, one per kind of carrier.
 */
import type { Observable } from 'rxjs';

/** How a transport ended. */
export interface TransportClosed {
  /** Set when the transport failed rather than closing cleanly. */
  readonly error?: Error;
}

/** A bidirectional byte stream with backpressure. */
export interface Transport {
  /**
   * Incoming bytes. Reading starts on subscription and stops on unsubscription (nothing is
   * lost in between: the carrier is paused, not drained). One subscriber at a time.
   * Completes when the remote closes cleanly (or after a local `destroy()` without an error);
   * errors with a `TransportError` when the carrier fails, or with the error given to
   * `destroy(error)`. A subscriber that comes after the end gets the remaining bytes, then the
   * same completion or error. A second concurrent subscriber gets `E_ALREADY_SUBSCRIBED`.
   */
  readonly incoming$: Observable<Uint8Array>;

  /**
   * Queues bytes for sending. Returns `false` once more than `highWaterMark` bytes are queued:
   * the caller should stop producing until `congested$` turns `false`. Bytes are never dropped
   * while the transport is open; writes after `close()`/`destroy()` or the carrier's end are
   * ignored and return `false` (nothing more will be accepted; `congested$` has completed).
   * Never throws.
   * The chunk must not be modified afterwards: carriers may hold it until it is sent.
   */
  write(chunk: Uint8Array): boolean;

  /**
   * Queues several chunks as one unit (for example a frame header and its body), without
   * concatenating them where the carrier allows. Same return value as {@link write}.
   */
  writev(chunks: readonly Uint8Array[]): boolean;

  /**
   * Bytes queued and not yet handed to the operating system (for an in-memory pair: not yet
   * delivered to the peer's subscriber).
   */
  readonly bufferedAmount: number;

  /**
   * Emits `true` when a write returns false (the queue passed the high watermark) and `false`
   * when it drains (fell to the low watermark); replays the current state to new subscribers.
   * Completes when the transport closes: a producer waiting for its `false` should stop then.
   */
  readonly congested$: Observable<boolean>;

  /** Emits once, then completes, when the transport has closed (cleanly or not). Replays. */
  readonly closed$: Observable<TransportClosed>;

  /**
   * True until `close()` or `destroy()` is called, or the carrier ends or fails: while it is,
   * writes are accepted. (`closed$` emits later, once the carrier is through.)
   */
  readonly isOpen: boolean;

  /**
   * Flushes what is queued, then closes. Transports are not half-open: `closed$` emits once the
   * remote has ended too, so keep `incoming$` subscribed (or call `destroy()`) until then.
   * Ignored when the transport is already closing.
   */
  close(): void;

  /**
   * Closes at once, dropping what is queued; `error` is reported on `closed$` and `incoming$`
   * (without one, `incoming$` completes and `closed$` carries no error). `closed$` emits before
   * `destroy` returns. The remote sees a failure, not a clean end, where the carrier allows it.
   */
  destroy(error?: Error): void;
}

/** Options shared by every transport. */
export interface TransportOptions {
  /** Queue size above which `write` returns false. Default 1 MiB (telebit's value). */
  highWaterMark?: number;
  /** Queue size at or below which a congested transport drains. Default 128 KiB. */
  lowWaterMark?: number;
}
