import type { Logger } from '../logger.js';

/**
 * The listeners of claimed ports, of one kind (TCP servers or UDP sockets): one per port while
 * at least one device holds it. `reconcile` opens what is wanted and closes what is not;
 * a listener released while still opening is closed as soon as it is open.
 */
export class PortListeners<T> {
  readonly #kind: string;
  readonly #open: (port: number) => Promise<T>;
  readonly #close: (listener: T) => void;
  readonly #log: Logger;
  readonly #unavailable: (port: number, error: Error) => void;
  readonly #listeners = new Map<number, { ready: Promise<T | undefined>; listener?: T }>();

  /** `unavailable`: told of a port that could not be opened (after it is logged). */
  constructor(kind: string, open: (port: number) => Promise<T>, close: (listener: T) => void, log: Logger, unavailable: (port: number, error: Error) => void = () => undefined) {
    this.#kind = kind;
    this.#open = open;
    this.#close = close;
    this.#log = log;
    this.#unavailable = unavailable;
  }

  /** Ports listening now (not those still opening). */
  get listening(): number[] {
    return [...this.#listeners.entries()].filter(([, entry]) => entry.listener !== undefined).map(([port]) => port);
  }

  reconcile(wanted: ReadonlySet<number>): void {
    for (const port of wanted) {
      if (this.#listeners.has(port)) continue;
      const entry: { ready: Promise<T | undefined>; listener?: T } = { ready: Promise.resolve(undefined) };
      entry.ready = this.#open(port).then(
        (listener) => {
          if (this.#listeners.get(port) !== entry) {
            this.#close(listener);
            return undefined;
          }
          entry.listener = listener;
          this.#log.info({ port }, `${this.#kind} port listening`);
          return listener;
        },
        (error: Error) => {
          if (this.#listeners.get(port) === entry) this.#listeners.delete(port);
          this.#log.error({ port, err: error.message, code: 'E_PORT_UNAVAILABLE' }, `cannot listen on claimed ${this.#kind} port`);
          this.#unavailable(port, error);
          return undefined;
        },
      );
      this.#listeners.set(port, entry);
    }
    for (const [port, entry] of this.#listeners) {
      if (wanted.has(port)) continue;
      this.#listeners.delete(port);
      // Still opening: the open callback above sees the entry gone and closes it.
      if (entry.listener !== undefined) {
        this.#close(entry.listener);
        this.#log.info({ port }, `${this.#kind} port released`);
      }
    }
  }

  /** Closes every listener, including those still opening. */
  async closeAll(): Promise<void> {
    const entries = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const entry of entries) if (entry.listener !== undefined) this.#close(entry.listener);
    await Promise.all(entries.map((entry) => entry.ready));
  }
}
