/**
 * What every transport does the same way, so that each carrier only says how to send, read,
 * close and destroy. Subclass it to write your own transport (see `docs/transports.md`).
 */
import { ReplaySubject, type Observable } from 'rxjs';
import { WriteFlow } from './flow.js';
import { IncomingQueue } from './incoming.js';
import { resolveTransportOptions, type ResolvedTransportOptions } from './options.js';
import type { Transport, TransportClosed, TransportOptions } from './transport.js';

const enum Phase {
  Open,
  Closing,
  Closed,
}

/**
 * A {@link Transport} built from a few carrier hooks.
 *
 * The base class owns the state: the phase (open → closing → closed), the watermarks
 * ({@link WriteFlow}), the single-subscriber `incoming$` ({@link IncomingQueue}) and `closed$`.
 * A subclass implements the `protected abstract` members and reports what its carrier does by
 * calling {@link received}, {@link receivedEnd}, {@link flushed} and {@link finish}.
 */
export abstract class TransportBase implements Transport {
  readonly incoming$: Observable<Uint8Array>;
  readonly drain$: Observable<void>;
  readonly congested$: Observable<boolean>;
  readonly closed$: Observable<TransportClosed>;

  /** The validated watermarks. */
  protected readonly options: ResolvedTransportOptions;

  readonly #flow: WriteFlow;
  readonly #incoming: IncomingQueue;
  readonly #closed = new ReplaySubject<TransportClosed>(1);
  #phase = Phase.Open;

  /** @throws {InvalidOptionError} `E_INVALID_OPTION` for bad watermarks. */
  constructor(options?: TransportOptions) {
    this.options = resolveTransportOptions(options);
    this.#flow = new WriteFlow(this.options);
    this.#incoming = new IncomingQueue({
      start: () => this.startReading(),
      stop: () => this.stopReading(),
    });
    this.incoming$ = this.#incoming.incoming$;
    this.drain$ = this.#flow.drain$;
    this.congested$ = this.#flow.congested$;
    this.closed$ = this.#closed.asObservable();
  }

  abstract get bufferedAmount(): number;

  get isOpen(): boolean {
    return this.#phase === Phase.Open;
  }

  /** True once `closed$` has emitted. */
  protected get isClosed(): boolean {
    return this.#phase === Phase.Closed;
  }

  /** True while `incoming$` has a subscriber and the carrier has not ended. */
  protected get isReading(): boolean {
    return this.#incoming.reading;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#phase !== Phase.Open) return false;
    if (chunk.byteLength > 0) this.sendChunk(chunk);
    return this.#flow.written(this.bufferedAmount);
  }

  writev(chunks: readonly Uint8Array[]): boolean {
    if (this.#phase !== Phase.Open) return false;
    // Filtered (a new array) only when some part is empty: the tunnel's writev never has one.
    const parts = chunks.every((chunk) => chunk.byteLength > 0) ? chunks : chunks.filter((chunk) => chunk.byteLength > 0);
    const [only] = parts;
    if (parts.length === 1 && only) this.sendChunk(only);
    else if (parts.length > 1) this.sendChunks(parts);
    return this.#flow.written(this.bufferedAmount);
  }

  close(): void {
    if (this.#phase !== Phase.Open) return;
    this.#phase = Phase.Closing;
    this.closeCarrier();
  }

  destroy(error?: Error): void {
    if (this.#phase === Phase.Closed) return;
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
    this.#incoming.push(chunk);
  }

  /** The carrier's incoming direction ended cleanly; `incoming$` completes after its backlog. */
  protected receivedEnd(): void {
    this.#incoming.end();
  }

  /** The incoming direction failed before the carrier closed (a protocol violation, say). */
  protected receivedError(error: Error): void {
    this.#incoming.fail(error);
    if (this.#phase === Phase.Open) this.#phase = Phase.Closing;
  }

  /** Bytes left the queue: re-check the low watermark. */
  protected flushed(): void {
    this.#flow.flushed(this.bufferedAmount);
  }

  /**
   * The transport is closed, cleanly without `error`. Ends `incoming$` (unless it already
   * ended), `drain$` and `congested$`, and emits `closed$`. Later calls are ignored.
   */
  protected finish(error?: Error): void {
    if (this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closed;
    if (error) this.#incoming.fail(error);
    else this.#incoming.end();
    this.#flow.close();
    this.#closed.next(error ? { error } : {});
    this.#closed.complete();
  }
}
