import {
  Observable,
  Subject,
  Subscription,
  defaultIfEmpty,
  from,
  isObservable,
  observable as observableSymbol,
  take,
  type ObservableInput,
  type SchedulerLike,
  type Subscriber,
} from 'rxjs';
import { MproxyError } from '../codec/errors.js';
import { ControlError } from './errors.js';
import {
  notice,
  parseControlMessage,
  request as requestMessage,
  response,
  type ControlErrorBody,
  type ControlParseFailure,
  type ControlRequestMessage,
  type ControlResponseMessage,
} from './messages.js';
import { resolveControlChannelOptions, type ControlChannelOptions, type ResolvedControlChannelOptions } from './options.js';

/**
 * What a control channel runs over: a `Tunnel` fits as it is. `control$` gives the decoded JSON
 * bodies of `control` frames; `sendControl()` sends one.
 */
export interface ControlPort {
  readonly control$: Observable<unknown>;
  sendControl(message: unknown): void;
}

/** A request the remote sent, to be answered once. */
export interface ControlRequest {
  /** The remote's id (positive). */
  readonly id: number;
  readonly command: string;
  readonly args: readonly unknown[];
  /** True once `reply()` or `fail()` has sent the answer (or the channel closed). */
  readonly answered: boolean;
  /** Sends `[-id, null]`, or `[-id, null, result]`. Later calls, and calls after close, do nothing. */
  reply(result?: unknown): void;
  /** Sends `[-id, {message, code}]`. Later calls, and calls after close, do nothing. */
  fail(error: ControlErrorBody): void;
}

/**
 * Answers one command. Returns the result itself, or an Observable, Promise or AsyncIterable
 * whose first value is the result (none: `[-id, null]`). Arrays and other sync iterables are
 * results, not inputs: `() => [1, 2]` answers `[-id, null, [1, 2]]`. A throw or an error
 * answers `[-id, {message, code}]`: the error's own code for an `MproxyError`, `E_INTERNAL`
 * otherwise. A handler may also answer through `request.reply()`/`fail()` itself.
 */
export type ControlHandler = (args: readonly unknown[], request: ControlRequest) => ObservableInput<unknown> | unknown;

/**
 * What a handler returns to leave a request unanswered on purpose: a push the remote expects no
 * answer to (telebit's `grant` and `access_token`). Nothing is sent and nothing is kept; a
 * handler returning `NEVER` instead would hold a subscription per push until the channel closes.
 */
export const NO_ANSWER: unique symbol = Symbol('mproxy.control.noAnswer');

/** Request/response over the control frames of one tunnel, in both directions. */
export interface ControlChannel {
  /**
   * Cold: each subscription picks the next id, sends `[id, command, ...args]`, then emits the
   * result (`undefined` when the answer has none) and completes on `[-id, null, result?]`.
   * Errors with a `ControlError` (`remote: true`, the remote's code) on `[-id, error]`, with
   * `E_CONTROL_TIMEOUT` when no answer comes in time, `E_BAD_RESPONSE` on a garbled answer, and
   * `E_CONTROL_CLOSED` when the channel closes first. Unsubscribing forgets the id: a late
   * answer is ignored.
   */
  request(command: string, ...args: unknown[]): Observable<unknown>;
  /**
   * Sends a request whose answer is not awaited (telebit's `grant`, `access_token`: the telebit
   * device never answers them). An answer, if one comes, is ignored. Does nothing once closed.
   */
  push(command: string, ...args: unknown[]): void;
  /**
   * The remote's requests that no `handle()` takes. A subscriber may answer them; those still
   * unanswered once emitted are answered `E_UNKNOWN_COMMAND`, unless the channel was made with
   * `answerUnknown: false`, in which case answering (possibly later) is the subscriber's job.
   * Completes when the channel closes.
   */
  readonly requests$: Observable<ControlRequest>;
  /**
   * Answers the remote's requests for `command` with `handler` until unsubscribed (or the
   * channel closes). Unsubscribing also cancels the handler's work in flight, whose requests
   * are then left unanswered.
   * @throws ControlError `E_HANDLER_EXISTS` if `command` already has a handler.
   */
  handle(command: string, handler: ControlHandler): Subscription;
  /** Out-of-band errors from the remote (`[0, error]`). Completes when the channel closes. */
  readonly notices$: Observable<ControlErrorBody>;
  /** Sends `[0, {message, code}]`. Does nothing once closed. */
  sendNotice(error: ControlErrorBody): void;
  /**
   * Every control body that is none of the three forms, for logs. Broken requests with a usable
   * id were also answered `E_BAD_COMMAND`; broken answers to a pending request also fail it
   * with `E_BAD_RESPONSE`; anything else is otherwise ignored. Completes when the channel closes.
   */
  readonly malformed$: Observable<ControlParseFailure>;
  /** True once `control$` has ended or `close()` was called. */
  readonly closed: boolean;
  /**
   * Stops listening: pending requests fail with `E_CONTROL_CLOSED`, handlers are dropped, the
   * streams complete. Also what happens when `control$` completes or errors.
   */
  close(): void;
}

/**
 * Makes a control channel over a port (usually a `Tunnel`). It subscribes to `control$` at
 * once, since a tunnel's `control$` is hot and the relay's `hello` may come in the same tick.
 *
 * ```ts
 * const channel = createControlChannel(tunnel);
 * channel.handle('add_token', ([jwt]) => addToken(jwt));
 * channel.request('hello', ...helloArgs()).subscribe({ error: (err) => tunnel.destroy(err) });
 * ```
 * @throws InvalidOptionError `E_INVALID_OPTION` for a bad `timeout` or `answerUnknown`.
 */
export function createControlChannel(port: ControlPort, options?: ControlChannelOptions): ControlChannel {
  return new MproxyControlChannel(port, resolveControlChannelOptions(options));
}

interface Pending {
  readonly command: string;
  readonly subscriber: Subscriber<unknown>;
}

interface Registration {
  readonly handler: ControlHandler;
  /** Parent of the handler's runs still in flight: unsubscribing it cancels them. */
  readonly inFlight: Subscription;
}

class MproxyControlChannel implements ControlChannel {
  readonly #port: ControlPort;
  readonly #timeout: number;
  readonly #scheduler: SchedulerLike;
  readonly #answerUnknown: boolean;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers = new Map<string, Registration>();
  /** Parent of every `handle()` subscription, so that closing ends them all. */
  readonly #handles = new Subscription();
  readonly #requests = new Subject<ControlRequest>();
  readonly #notices = new Subject<ControlErrorBody>();
  readonly #malformed = new Subject<ControlParseFailure>();
  #input: Subscription | undefined;
  #nextId = 1;
  #closed = false;

  readonly requests$ = this.#requests.asObservable();
  readonly notices$ = this.#notices.asObservable();
  readonly malformed$ = this.#malformed.asObservable();

  constructor(port: ControlPort, options: ResolvedControlChannelOptions) {
    this.#port = port;
    this.#timeout = options.timeout;
    this.#scheduler = options.scheduler;
    this.#answerUnknown = options.answerUnknown;
    const input = port.control$.subscribe({
      next: (value) => this.#receive(value),
      error: (error: unknown) => this.#shutdown(error),
      complete: () => this.#shutdown(),
    });
    // control$ may have ended during subscribe(), before `input` existed to be unsubscribed.
    if (this.#closed) input.unsubscribe();
    else this.#input = input;
  }

  get closed(): boolean {
    return this.#closed;
  }

  request(command: string, ...args: unknown[]): Observable<unknown> {
    return new Observable<unknown>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new ControlError('E_CONTROL_CLOSED', `the control channel is closed: cannot send "${command}"`, { command }));
        return undefined;
      }
      const id = this.#allocateId();
      // Built before anything is registered: a bad command throws, and RxJS turns the throw
      // into an error notification with no timer or pending entry left behind.
      const message = requestMessage(id, command, ...args);
      const timer =
        this.#timeout === Infinity
          ? undefined
          : this.#scheduler.schedule(() => {
              if (this.#pending.get(id)?.subscriber !== subscriber) return;
              this.#pending.delete(id);
              subscriber.error(
                new ControlError('E_CONTROL_TIMEOUT', `no answer to "${command}" (id ${id}) within ${this.#timeout} ms`, { command }),
              );
            }, this.#timeout);
      // Registered before sending: an in-memory port may answer inside sendControl().
      this.#pending.set(id, { command, subscriber });
      try {
        this.#port.sendControl(message);
      } catch (error) {
        this.#pending.delete(id);
        timer?.unsubscribe();
        throw error;
      }
      return () => {
        // Forget the id, so that a late answer finds nothing to settle.
        if (this.#pending.get(id)?.subscriber === subscriber) this.#pending.delete(id);
        timer?.unsubscribe();
      };
    });
  }

  push(command: string, ...args: unknown[]): void {
    if (this.#closed) return;
    // Not registered as pending: an answer to this id is then ignored like any stray answer.
    this.#port.sendControl(requestMessage(this.#allocateId(), command, ...args));
  }

  handle(command: string, handler: ControlHandler): Subscription {
    const subscription = new Subscription();
    if (this.#closed) {
      subscription.unsubscribe();
      return subscription;
    }
    if (this.#handlers.has(command)) {
      throw new ControlError('E_HANDLER_EXISTS', `the command "${command}" already has a handler`, { command });
    }
    const registration: Registration = { handler, inFlight: new Subscription() };
    this.#handlers.set(command, registration);
    subscription.add(() => {
      if (this.#handlers.get(command) === registration) this.#handlers.delete(command);
    });
    subscription.add(registration.inFlight);
    this.#handles.add(subscription);
    return subscription;
  }

  sendNotice(error: ControlErrorBody): void {
    if (this.#closed) return;
    this.#port.sendControl(notice(error));
  }

  close(): void {
    this.#shutdown();
  }

  #allocateId(): number {
    // Ids are ours alone (the remote's requests and our answers use the remote's ids), so a
    // counter suffices; it wraps after 2^53 - 1, skipping ids still pending.
    let id: number;
    do {
      id = this.#nextId;
      this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    } while (this.#pending.has(id));
    return id;
  }

  #receive(value: unknown): void {
    if (this.#closed) return;
    const message = parseControlMessage(value);
    switch (message.kind) {
      case 'request':
        this.#dispatch(message);
        return;
      case 'response':
        this.#settle(message);
        return;
      case 'notice':
        this.#notices.next(message.error);
        return;
      case 'malformed': {
        this.#malformed.next(message);
        if (message.replyTo !== undefined) {
          const answer = response(message.replyTo, { message: `malformed request: ${message.reason}`, code: 'E_BAD_COMMAND' });
          quietly(() => this.#port.sendControl(answer));
        }
        if (message.answers !== undefined) {
          const pending = this.#take(message.answers);
          pending?.subscriber.error(
            new ControlError('E_BAD_RESPONSE', `malformed answer to "${pending.command}": ${message.reason}`, { command: pending.command }),
          );
        }
        return;
      }
    }
  }

  #settle(message: ControlResponseMessage): void {
    // No pending entry: the answer to a push, a late answer (timed out or unsubscribed), or an
    // id we never used. All are ignored.
    const pending = this.#take(message.id);
    if (!pending) return;
    if (message.error) {
      pending.subscriber.error(new ControlError(message.error.code, message.error.message, { remote: true, command: pending.command }));
      return;
    }
    pending.subscriber.next(message.result);
    pending.subscriber.complete();
  }

  #take(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending) this.#pending.delete(id);
    return pending;
  }

  #dispatch(message: ControlRequestMessage): void {
    const request = this.#incoming(message);
    const registration = this.#handlers.get(message.command);
    if (registration) {
      this.#run(registration, request);
      return;
    }
    // Watchers of requests$ may answer during this emission; whatever is still unanswered
    // after it is nobody's (an async answer needs `answerUnknown: false` or handle()).
    this.#requests.next(request);
    if (this.#answerUnknown && !request.answered) {
      this.#answer(request, () => request.fail({ message: `unknown command "${message.command}"`, code: 'E_UNKNOWN_COMMAND' }));
    }
  }

  #incoming(message: ControlRequestMessage): ControlRequest {
    let answered = false;
    const send = (wire: unknown): void => {
      if (answered || this.#closed) return;
      this.#port.sendControl(wire);
      // Only once sent: a result that cannot be serialised leaves room for fail().
      answered = true;
    };
    return {
      id: message.id,
      command: message.command,
      args: message.args,
      get answered() {
        return answered;
      },
      reply: (result?: unknown) => send(response(message.id, null, result)),
      fail: (error: ControlErrorBody) => send(response(message.id, error)),
    };
  }

  #run(registration: Registration, request: ControlRequest): void {
    let output: unknown;
    try {
      output = registration.handler(request.args, request);
    } catch (error) {
      this.#answer(request, () => request.fail(toControlErrorBody(error)));
      return;
    }
    if (output === NO_ANSWER) return;
    if (!isAsyncInput(output)) {
      this.#answer(request, () => request.reply(output));
      return;
    }
    // A run that finishes unsubscribes itself and leaves `inFlight`; one still running when the
    // handler or the channel goes away is cancelled with it.
    registration.inFlight.add(
      from(output)
        .pipe(take(1), defaultIfEmpty(undefined))
        .subscribe({
          next: (result) => this.#answer(request, () => request.reply(result)),
          error: (error: unknown) => this.#answer(request, () => request.fail(toControlErrorBody(error))),
        }),
    );
  }

  /** Sends an automatic answer; one that cannot be sent (a result JSON cannot hold) fails. */
  #answer(request: ControlRequest, send: () => void): void {
    try {
      send();
    } catch (error) {
      quietly(() => request.fail(toControlErrorBody(error)));
    }
  }

  #shutdown(cause?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#input?.unsubscribe();
    this.#input = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { command, subscriber } of pending) {
      subscriber.error(
        new ControlError('E_CONTROL_CLOSED', `the control channel closed before "${command}" was answered`, {
          command,
          cause,
        }),
      );
    }
    this.#handles.unsubscribe();
    this.#handlers.clear();
    this.#requests.complete();
    this.#notices.complete();
    this.#malformed.complete();
  }
}

/** Sends something nobody waits on: a port that throws has nobody left to tell. */
function quietly(send: () => void): void {
  try {
    send();
  } catch {
    // The port is broken or gone; the channel learns of it when control$ ends.
  }
}

/**
 * What an error becomes on the wire: an `MproxyError` keeps its `message` and `code`; anything
 * else gets code `E_INTERNAL` (and its message, if it is an `Error`).
 */
export function toControlErrorBody(error: unknown): ControlErrorBody {
  if (error instanceof MproxyError) return { message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error), code: 'E_INTERNAL' };
}

/**
 * Whether a handler's return value is to be awaited: Observables (and interop observables),
 * promises and async iterables. Arrays and strings are ObservableInputs to RxJS too, but here
 * they are results.
 */
function isAsyncInput(value: unknown): value is ObservableInput<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  if (isObservable(value)) return true;
  const candidate = value as { [key: PropertyKey]: unknown };
  return (
    typeof candidate[observableSymbol] === 'function' ||
    typeof candidate['then'] === 'function' ||
    typeof candidate[Symbol.asyncIterator] === 'function'
  );
}
