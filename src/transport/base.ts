import { BehaviorSubject, Observable, ReplaySubject, distinctUntilChanged, map, type Subscriber } from 'rxjs';
import { TransportError } from './errors.js';
import { resolveTransportOptions, type ResolvedTransportOptions } from './options.js';
import type { Transport, TransportClosed, TransportOptions } from './transport.js';

/**
 * A {@link Transport} built from a few carrier hooks: what every transport does the same way,
 * so that each carrier only says how to send, read, close and destroy. Subclass it to write your
 * own transport (see `docs/transports.md`).
 *
 * The base class owns the state: the phase (open → closing → closed), the watermarks, the
 * single-subscriber `incoming$` and `closed$`. A subclass implements the `protected abstract`
 * members and reports what its carrier does by calling {@link received}, {@link receivedEnd},
 * {@link flushed} and {@link finish}.
 *
 * Reading: carriers rarely stop on the exact chunk (a paused socket may still emit what it had
 * read, a WebSocket the other messages of a chunk it was parsing). Such chunks, and the end or
 * failure of the carrier, wait in a backlog for the next subscriber of `incoming$`.
 */
export abstract class TransportBase implements Transport {
  readonly #congested = new BehaviorSubject<boolean>(false);
  readonly #closed = new ReplaySubject<TransportClosed>(1);
  #phase: 'open' | 'closing' | 'closed' = 'open';
  #reader: Subscriber<Uint8Array> | undefined;
  #backlog: Uint8Array[] = [];
  /** How `incoming$` ends after its backlog: set once the carrier has ended or failed. */
  #ending: TransportClosed | undefined;

  readonly incoming$: Observable<Uint8Array> = new Observable<Uint8Array>((subscriber) => this.#subscribe(subscriber));
  /**
   * Each subscriber is given the state as it is when the news reaches it: a subscriber that
   * writes when told `false` (a tunnel's fair merge) can congest the queue again before the
   * subscribers after it have heard the `false`, and they must not end on it.
   */
  readonly congested$: Observable<boolean> = this.#congested.pipe(map(() => this.#congested.value), distinctUntilChanged());
  readonly closed$: Observable<TransportClosed> = this.#closed.asObservable();

  /** The validated watermarks. */
  protected readonly options: ResolvedTransportOptions;

  /** @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks. */
  constructor(options?: TransportOptions) {
    this.options = resolveTransportOptions(options);
  }

  abstract get bufferedAmount(): number;

  get isOpen(): boolean {
    return this.#phase === 'open';
  }

  /** True once `closed$` has emitted. */
  protected get isClosed(): boolean {
    return this.#phase === 'closed';
  }

  /** True while `incoming$` has a subscriber and the carrier has not ended. */
  protected get isReading(): boolean {
    return this.#reader !== undefined && this.#ending === undefined;
  }

  write(chunk: Uint8Array): boolean {
    return this.writev([chunk]);
  }

  writev(chunks: readonly Uint8Array[]): boolean {
    if (this.#phase !== 'open') return false;
    // Filtered (a new array) only when some part is empty: the tunnel's writev never has one.
    const parts = chunks.every((chunk) => chunk.byteLength > 0) ? chunks : chunks.filter((chunk) => chunk.byteLength > 0);
    const [only] = parts;
    if (parts.length === 1 && only) this.sendChunk(only);
    else if (parts.length > 1) this.sendChunks(parts);
    if (this.bufferedAmount <= this.options.highWaterMark) return true;
    if (!this.#congested.value) this.#congested.next(true);
    return false;
  }

  close(): void {
    if (this.#phase !== 'open') return;
    this.#phase = 'closing';
    this.closeCarrier();
  }

  destroy(error?: Error): void {
    if (this.#phase === 'closed') return;
    // Settle first: whatever the carrier emits while being torn down is then ignored.
    this.finish(error);
    this.destroyCarrier();
  }

  /** Queues one non-empty chunk on the carrier. */
  protected abstract sendChunk(chunk: Uint8Array): void;

  /** Queues several non-empty chunks (at least two) as one unit. */
  protected abstract sendChunks(chunks: readonly Uint8Array[]): void;

  /** `incoming$` got a subscriber: let the carrier deliver. */
  protected abstract startReading(): void;

  /** `incoming$` lost its subscriber: pause the carrier. */
  protected abstract stopReading(): void;

  /** Flush what is queued, then close; call {@link finish} when the carrier has closed. */
  protected abstract closeCarrier(): void;

  /** Tear the carrier down now. The transport is already finished when this runs. */
  protected abstract destroyCarrier(): void;

  /** The carrier delivered bytes. */
  protected received(chunk: Uint8Array): void {
    if (this.#ending) return;
    // With a backlog pending, the chunk must queue behind it to keep the order.
    if (this.#reader && this.#backlog.length === 0) this.#reader.next(chunk);
    else this.#backlog.push(chunk);
  }

  /** The carrier's incoming direction ended cleanly; `incoming$` completes after its backlog. */
  protected receivedEnd(): void {
    this.#endIncoming({});
  }

  /** The incoming direction failed before the carrier closed (a protocol violation, say). */
  protected receivedError(error: Error): void {
    this.#endIncoming({ error });
    if (this.#phase === 'open') this.#phase = 'closing';
  }

  /**
   * Bytes left the queue: once it is at or below `lowWaterMark` after a write returned false,
   * `congested$` turns false. Call it whenever the queue may have shrunk (a write callback, a
   * delivery), so that a drain never depends on a timer.
   */
  protected flushed(): void {
    if (this.#phase === 'closed' || !this.#congested.value) return;
    if (this.bufferedAmount <= this.options.lowWaterMark) this.#congested.next(false);
  }

  /**
   * The transport is closed, cleanly without `error`. Ends `incoming$` (unless it already
   * ended) and `congested$`, and emits `closed$`. Later calls are ignored.
   */
  protected finish(error?: Error): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    const closed = error ? { error } : {};
    this.#endIncoming(closed);
    this.#congested.complete();
    this.#closed.next(closed);
    this.#closed.complete();
  }

  #endIncoming(ending: TransportClosed): void {
    if (this.#ending) return;
    this.#ending = ending;
    if (this.#reader && this.#backlog.length === 0) settle(this.#reader, ending);
  }

  #subscribe(subscriber: Subscriber<Uint8Array>): (() => void) | undefined {
    if (this.#reader) {
      subscriber.error(new TransportError('E_ALREADY_SUBSCRIBED', 'incoming$ accepts one subscriber at a time'));
      return undefined;
    }
    this.#reader = subscriber;
    // next() may end the subscription (take, takeUntil…) before this function has returned its
    // teardown: the subscriber is closed then, and what it did not take stays in the backlog.
    while (this.#backlog.length > 0 && !subscriber.closed) subscriber.next(this.#backlog.shift()!);
    if (subscriber.closed) {
      this.#reader = undefined;
      return undefined;
    }
    if (this.#ending) settle(subscriber, this.#ending);
    else this.startReading();
    return () => {
      if (this.#reader !== subscriber) return;
      this.#reader = undefined;
      if (!this.#ending) this.stopReading();
    };
  }
}

function settle(subscriber: Subscriber<Uint8Array>, ending: TransportClosed): void {
  if (ending.error) subscriber.error(ending.error);
  else subscriber.complete();
}
