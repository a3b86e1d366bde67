/**
 * The receive side every transport shares: one subscriber at a time, reading started and
 * stopped with the subscription, and nothing lost in between.
 */
import { Observable, type Subscriber } from 'rxjs';
import { TransportError } from './errors.js';

/** What the carrier does when the subscriber comes and goes. */
export interface ReadControl {
  /** Resume reading from the carrier. */
  start(): void;
  /** Pause reading; chunks the carrier still delivers are kept for the next subscriber. */
  stop(): void;
}

type Ending = { readonly error?: Error };

/**
 * Turns a carrier's pushes into `incoming$`.
 *
 * Carriers rarely stop on the exact chunk: a paused socket may still emit what it had read, a
 * WebSocket may still emit the other messages of a chunk it was parsing. Such chunks, and the
 * end or failure of the carrier, wait in a backlog for the next subscriber.
 */
export class IncomingQueue {
  readonly #control: ReadControl;
  #subscriber: Subscriber<Uint8Array> | undefined;
  #backlog: Uint8Array[] = [];
  #ending: Ending | undefined;

  /** Incoming bytes; see `Transport.incoming$`. */
  readonly incoming$: Observable<Uint8Array>;

  constructor(control: ReadControl) {
    this.#control = control;
    this.incoming$ = new Observable<Uint8Array>((subscriber) => this.#subscribe(subscriber));
  }

  /** True while a subscriber is attached and the carrier has not ended. */
  get reading(): boolean {
    return this.#subscriber !== undefined && this.#ending === undefined;
  }

  /** Hands a chunk from the carrier to the subscriber, or keeps it for the next one. */
  push(chunk: Uint8Array): void {
    if (this.#ending) return;
    const subscriber = this.#subscriber;
    // With a backlog pending, the chunk must queue behind it to keep the order.
    if (subscriber && this.#backlog.length === 0) subscriber.next(chunk);
    else this.#backlog.push(chunk);
  }

  /** The carrier ended cleanly: complete after the backlog. Later calls are ignored. */
  end(): void {
    this.#finish({});
  }

  /** The carrier failed: error after the backlog. Later calls are ignored. */
  fail(error: Error): void {
    this.#finish({ error });
  }

  #finish(ending: Ending): void {
    if (this.#ending) return;
    this.#ending = ending;
    const subscriber = this.#subscriber;
    if (subscriber && this.#backlog.length === 0) settle(subscriber, ending);
  }

  #subscribe(subscriber: Subscriber<Uint8Array>): (() => void) | undefined {
    if (this.#subscriber) {
      subscriber.error(
        new TransportError('E_ALREADY_SUBSCRIBED', 'incoming$ accepts one subscriber at a time'),
      );
      return undefined;
    }
    this.#subscriber = subscriber;
    const teardown = (): void => {
      if (this.#subscriber !== subscriber) return;
      this.#subscriber = undefined;
      if (!this.#ending) this.#control.stop();
    };
    // next() may end the subscription (take, takeUntil…) before this function has returned its
    // teardown: the subscriber is closed then, and what it did not take stays in the backlog.
    while (this.#backlog.length > 0 && !subscriber.closed) {
      subscriber.next(this.#backlog.shift()!);
    }
    if (subscriber.closed) {
      this.#subscriber = undefined;
      return undefined;
    }
    if (this.#ending) settle(subscriber, this.#ending);
    else this.#control.start();
    return teardown;
  }
}

function settle(subscriber: Subscriber<Uint8Array>, ending: Ending): void {
  if (ending.error) subscriber.error(ending.error);
  else subscriber.complete();
}
