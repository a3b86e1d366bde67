/**
 * Warnings about a local service that fails, at most one per forward per burst: a dead service
 * behind a busy name fails every visitor, and one line says it as well as a thousand.
 */

/** What to say about the failures of one forward. */
export interface FailureNote {
  /** Failures since the last note that were not noted (0 for the first). */
  readonly suppressed: number;
}

/**
 * Counts failures per key and lets one through per `window` ms: the first of a burst at once,
 * then the first after the window, with the count of those held back meanwhile.
 */
export class FailureLimiter<K> {
  readonly #window: number;
  readonly #now: () => number;
  readonly #last = new Map<K, { at: number; suppressed: number }>();

  constructor(window = 10_000, now: () => number = Date.now) {
    this.#window = window;
    this.#now = now;
  }

  /** A failure of `key`: the note to log now, or `undefined` to stay quiet. */
  failed(key: K): FailureNote | undefined {
    const now = this.#now();
    const last = this.#last.get(key);
    if (last && now - last.at < this.#window) {
      last.suppressed += 1;
      return undefined;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(key, { at: now, suppressed: 0 });
    return { suppressed };
  }
}
