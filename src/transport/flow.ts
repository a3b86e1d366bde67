/**
 * The drain/congestion state machine every transport shares. A transport reports its queue
 * size after each write and each time bytes leave the queue; this class decides what `write`
 * returns and when `drain$` and `congested$` emit.
 */
import { BehaviorSubject, Subject, distinctUntilChanged, map, type Observable } from 'rxjs';
import type { ResolvedTransportOptions } from './options.js';

/**
 * Write-side flow control with two watermarks.
 *
 * A write that leaves more than `highWaterMark` bytes queued returns `false` and marks the
 * queue congested; the next report at or below `lowWaterMark` clears it and emits `drain$`.
 * The gap between the marks keeps a producer from flapping on every chunk.
 *
 * The carrier must call {@link flushed} whenever its queue may have shrunk (a write callback,
 * a delivery), so that `drain$` never depends on a timer.
 */
export class WriteFlow {
  readonly #highWaterMark: number;
  readonly #lowWaterMark: number;
  readonly #drain = new Subject<void>();
  readonly #congested = new BehaviorSubject<boolean>(false);

  /** Emits each time the queue falls to `lowWaterMark` after a write returned false. */
  readonly drain$: Observable<void> = this.#drain.asObservable();

  /**
   * `true` from a write that returned false until the next drain; replays the current state.
   * Each subscriber is given the state as it is when the news reaches it: a subscriber that
   * writes when told `false` (a tunnel's fair merge) can congest the queue
   * again before the subscribers after it have heard the `false`, and they must not end on it.
   */
  readonly congested$: Observable<boolean> = this.#congested.pipe(
    map(() => this.#congested.value),
    distinctUntilChanged(),
  );

  constructor(options: ResolvedTransportOptions) {
    this.#highWaterMark = options.highWaterMark;
    this.#lowWaterMark = options.lowWaterMark;
  }

  /** True between a write that returned false and the following drain. */
  get congested(): boolean {
    return this.#congested.value;
  }

  /**
   * Records a write that left `bufferedAmount` bytes queued.
   * @returns what `Transport.write` must return: whether the producer may go on.
   */
  written(bufferedAmount: number): boolean {
    if (bufferedAmount <= this.#highWaterMark) return true;
    if (!this.#congested.value && !this.#congested.closed) this.#congested.next(true);
    return false;
  }

  /** Records that the queue may have shrunk to `bufferedAmount` bytes. */
  flushed(bufferedAmount: number): void {
    if (this.#congested.closed) return;
    if (this.#congested.value && bufferedAmount <= this.#lowWaterMark) {
      // Clear the state before emitting, so a drain$ handler that writes again sees it fresh.
      this.#congested.next(false);
      // A congested$ subscriber may have filled the queue again: then this was no drain.
      if (!this.#congested.value) this.#drain.next();
    }
  }

  /** Completes the observables: a closed transport never drains. */
  close(): void {
    this.#drain.complete();
    this.#congested.complete();
  }
}
