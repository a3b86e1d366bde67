import {
  AsyncSubject,
  BehaviorSubject,
  Observable,
  distinctUntilChanged,
  filter,
  map,
  skip,
  type Subscriber,
} from 'rxjs';
import { encodeErrorBody } from '../codec/error-body.js';
import type { ClientMeta, FrameInit } from '../codec/frame.js';
import { RemoteError, TunnelError } from './errors.js';
import type { ResolvedTunnelOptions } from './options.js';

interface WritableWatcher {
  readonly onChange: (writable: boolean) => void;
  readonly onDone: (() => void) | undefined;
  readonly stop: (() => boolean) | undefined;
  last: boolean;
}

/** How a client ended: no `error` for a clean end on both sides. */
export interface ClientClosed {
  readonly error?: Error;
}

/**
 * What a client needs from its tunnel. The tunnel implements it; tests may too.
 * @internal
 */
export interface ClientHost {
  readonly options: ResolvedTunnelOptions;
  /**
   * Whether the client may write now, as far as the tunnel is concerned: false while the
   * transport's send queue is above its high watermark, and while the client waits for its
   * turn behind others (see the tunnel's turns).
   */
  mayWrite(client: Client): boolean;
  /**
   * A watcher of the client holds `false` while {@link mayWrite} is false: call the client's
   * `writableChanged` once its turn has come.
   */
  awaitTurn(client: Client): void;
  /**
   * The client gained its first eager watcher (`true`) or lost its last one (`false`): eager
   * watchers are told of every congestion, lazy ones only of those they write into.
   */
  watchCongestion(client: Client, eager: boolean): void;
  send(frame: FrameInit): void;
  /**
   * Holds `bytes` of the transport's room for the client until it writes or
   * {@link releaseRoom} is called: a producer that starts reading again after a stop has its
   * bytes still to come, and the tunnel must not serve others into room they will take.
   */
  reserveRoom(client: Client, bytes: number): void;
  /**
   * Gives back the room the client held. `expired`: it held it without writing, so others may be
   * served into it now.
   */
  releaseRoom(client: Client, expired: boolean): void;
  /** Adds to the bytes queued in all clients; returns the new total. */
  adjustQueued(delta: number): number;
  /** The client is finished: forget it. */
  release(client: Client): void;
}

/**
 * One client of a tunnel: a visitor's connection, seen as a stream of bytes each way.
 *
 * Inbound bytes arrive on {@link data$}; outbound bytes go through {@link write}. Flow control
 * follows telebit: the remote is sent `pause` when this side's consumer falls behind and
 * `resume` when it catches up; a `pause` from the remote makes {@link write} return false
 * until {@link drain$}.
 */
export class Client {
  /** `family,address,port`: the id shared with the remote. */
  readonly id: string;
  /** Who the client is and where it was going. */
  readonly meta: ClientMeta;

  readonly #host: ClientHost;
  readonly #remotePaused = new BehaviorSubject<boolean>(false);
  readonly #closed = new AsyncSubject<ClientClosed>();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #backlog = 0;
  #sink: Subscriber<Uint8Array> | undefined;
  // Set once the remote has ended or failed its side (or the tunnel went away).
  #remoteDone: { error?: Error } | undefined;
  #pausedRemote = false;
  #localEnded = false;
  #finished = false;
  #bytesWritten = 0;
  #eagerWatchers = 0;
  #holdsRoom = false;
  // Made on first use: most clients of a busy relay are watched by one socket, idle ones by none.
  #watchers: WritableWatcher[] | undefined;
  #closeError: Error | undefined;

  /** @internal Made by the tunnel; use `tunnel.open()` or `tunnel.clients$`. */
  constructor(host: ClientHost, meta: ClientMeta, id: string) {
    this.#host = host;
    this.meta = meta;
    this.id = id;
  }

  /**
   * The client's inbound bytes. Completes on the remote's `end`; errors with a
   * {@link RemoteError} carrying the remote's `{message, code}` on its `error`, or with a
   * `TunnelError` when the tunnel goes away. Bytes that arrive while nobody is subscribed are
   * queued (bounded: see `maxClientBuffer`) and delivered on subscription. One subscriber at a
   * time.
   */
  get data$(): Observable<Uint8Array> {
    // Made on demand: an idle client should cost as little memory as possible.
    return new Observable<Uint8Array>((subscriber) => {
      if (this.#sink) {
        subscriber.error(new TunnelError('E_ALREADY_SUBSCRIBED', `client ${this.id}: data$ already has a subscriber`));
        return;
      }
      if (this.#finished) {
        if (this.#closeError) subscriber.error(this.#closeError);
        else subscriber.complete();
        return;
      }
      this.#sink = subscriber;
      this.#flush();
      return () => {
        if (this.#sink === subscriber) this.#sink = undefined;
      };
    });
  }

  /** Whether the remote asked us to stop sending for this client. Replays the current state. */
  get remotePaused$(): Observable<boolean> {
    return this.#remotePaused.pipe(distinctUntilChanged());
  }

  /** True while the remote has this client paused. */
  get remotePaused(): boolean {
    return this.#remotePaused.value;
  }

  /**
   * Whether writing is welcome now: the remote has not paused this client, the tunnel's
   * transport is not congested, and the client is not waiting for its turn behind other
   * clients (after a congestion, or once it has had its share while others wait: see
   * docs/reactive.md, "Fair turns"). Replays the current state.
   */
  get writable$(): Observable<boolean> {
    return new Observable<boolean>((subscriber) => {
      // On a finished client this only completes the subscriber (see watchWritable).
      return this.watchWritable(
        (writable) => subscriber.next(writable),
        () => subscriber.complete(),
      );
    });
  }

  /**
   * @internal The cheap form of {@link writable$} for per-socket plumbing: `onChange` is called
   * at once with the current state, then on every change; `onDone` when the client finishes
   * (at once, and nothing else, if it has).
   * Returns the function that stops watching.
   *
   * A `lazy` watcher is told of a congestion of the tunnel only when it matters to it: when
   * the client writes into the congestion (or its producer calls {@link writableChanged}). A
   * tunnel with thousands of clients so spends nothing on those that are not sending when its
   * transport fills up. Everything else (a remote pause or resume, the end of a congestion it
   * was told of) it is told as an eager watcher is.
   *
   * A lazy watcher's producer that reads ahead of what it writes (a socket) may give `stop`:
   * when many producers run into one congestion at once, the tunnel asks the others, which
   * have not yet, to stop reading before they do (see {@link stopProducing}). `stop` returns
   * whether it stopped; if it did, the watcher is told `false`, then `true` when the client's
   * turn comes, and should then start again and {@link reserveRoom} for what it will read.
   */
  watchWritable(
    onChange: (writable: boolean) => void,
    onDone?: () => void,
    { lazy = false, stop }: { readonly lazy?: boolean; readonly stop?: () => boolean } = {},
  ): () => void {
    if (this.#finished) {
      onDone?.();
      return () => {};
    }
    const watcher: WritableWatcher = { onChange, onDone, stop: lazy ? stop : undefined, last: this.#writable() };
    (this.#watchers ??= []).push(watcher);
    if (!lazy && this.#eagerWatchers++ === 0) this.#host.watchCongestion(this, true);
    onChange(watcher.last);
    if (!watcher.last && !this.#host.mayWrite(this)) this.#host.awaitTurn(this);
    return () => {
      const watchers = this.#watchers;
      const at = watchers?.indexOf(watcher) ?? -1;
      if (!watchers || at < 0) return;
      watchers.splice(at, 1);
      if (!lazy && --this.#eagerWatchers === 0) this.#host.watchCongestion(this, false);
    };
  }

  /**
   * @internal Tells watchers that writability may have changed (the remote paused or resumed
   * this client, or the tunnel's congestion flipped). Each watcher is given the state as it is
   * when its turn comes, not as it was when the loop began: a watcher that reacts by writing can
   * congest the tunnel, and the watchers after it must not be told a stale `true`, past which no
   * drain would come. A watcher left holding `false` while the host does not let the client
   * write (a congestion, or others going first) is handed to the host, to be told when its turn
   * comes.
   */
  writableChanged(): void {
    const watchers = this.#watchers;
    if (!watchers || watchers.length === 0) return;
    let holding = false;
    // Copied only when there are several: a lone watcher that stops watching in onChange ends
    // the loop by itself.
    for (const watcher of watchers.length === 1 ? watchers : [...watchers]) {
      // A watcher before this one finished the client (its onDone ran): the rest must not act
      // on a stale state, e.g. pause a socket that onDone resumed to read its end.
      if (this.#finished) return;
      const now = this.#writable();
      if (now !== watcher.last) {
        watcher.last = now;
        watcher.onChange(now);
      }
      if (!watcher.last) holding = true;
    }
    if (holding && !this.#host.mayWrite(this)) this.#host.awaitTurn(this);
  }

  /**
   * @internal Asks the producers of lazy watchers that hold `true` to stop reading, when the
   * client may not write now: the tunnel calls it when many clients begin to wait at once.
   * Those that stop hold `false` from then on and wait for the client's turn.
   */
  stopProducing(): void {
    const watchers = this.#watchers;
    if (this.#finished || !watchers || this.#writable()) return;
    let stopped = false;
    for (const watcher of watchers) {
      if (watcher.last && watcher.stop?.()) stopped = true;
    }
    if (stopped) this.writableChanged();
  }

  /**
   * @internal Holds `bytes` of the tunnel's room for bytes this client's producer is about to
   * read, until the client writes or {@link releaseRoom} is called (see ClientHost.reserveRoom).
   */
  reserveRoom(bytes: number): void {
    if (this.#finished) return;
    this.#holdsRoom = true;
    this.#host.reserveRoom(this, bytes);
  }

  /** @internal Gives back the room {@link reserveRoom} held, if the client has not written since. */
  releaseRoom(): void {
    if (!this.#holdsRoom) return;
    this.#holdsRoom = false;
    this.#host.releaseRoom(this, true);
  }

  /**
   * Whether writing is welcome now (see {@link writable$}). A producer with lazy watchers that
   * finds it false and holds its bytes rather than writing them calls {@link writableChanged},
   * so that its watchers hold `false` and hear when writing is welcome again.
   */
  get writable(): boolean {
    return this.#writable();
  }

  /**
   * Emits each time writing becomes welcome again after it was not (see {@link write}).
   * Completes when the client finishes.
   */
  get drain$(): Observable<void> {
    return this.writable$.pipe(
      skip(1),
      filter((writable) => writable),
      map(() => undefined),
    );
  }

  /** Emits once when the client is finished on both sides, then completes. Replays. */
  get closed$(): Observable<ClientClosed> {
    return this.#closed.asObservable();
  }

  /** The error the client failed with once {@link closed}; undefined for a clean end. */
  get errored(): Error | undefined {
    return this.#closeError;
  }

  /** True once the client is finished (ended both ways, destroyed, or failed). */
  get closed(): boolean {
    return this.#finished;
  }

  /** Inbound bytes queued here, not yet taken by a `data$` subscriber. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Sends bytes to the remote. Returns false when writing is no longer welcome (see
   * {@link writable$}: the remote paused this client, the tunnel is congested, or others wait
   * for their turn): the caller should stop producing until {@link drain$} emits (the bytes
   * given are still sent). Bytes written after {@link end} or once the client is closed are
   * dropped, and false is returned.
   */
  write(chunk: Uint8Array): boolean {
    if (this.#finished || this.#localEnded) return false;
    this.#bytesWritten += chunk.length;
    if (this.#holdsRoom) {
      // What was held is now in the queue (or on its way there, just below).
      this.#holdsRoom = false;
      this.#host.releaseRoom(this, false);
    }
    const limit = this.#host.options.maxFrameSize;
    // A remote with the default limit must accept every frame we send.
    for (let at = 0; at < chunk.length; at += limit) {
      this.#host.send(this.#frame('data', at === 0 && chunk.length <= limit ? chunk : chunk.subarray(at, at + limit)));
    }
    if (this.#writable()) return true;
    // A lazy watcher that was not told of the congestion learns of it now, so that the drain
    // which follows is a change it hears.
    this.writableChanged();
    return false;
  }

  /**
   * Bytes given to {@link write} so far, not counting those dropped after the end (counted as
   * given, even if the tunnel's transport has closed meanwhile and they go nowhere).
   */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  #writable(): boolean {
    return !this.#remotePaused.value && this.#host.mayWrite(this);
  }

  /** Ends this side: sends `end`. The client is finished once the remote has ended too. */
  end(): void {
    if (this.#finished || this.#localEnded) return;
    this.#localEnded = true;
    this.#host.send(this.#frame('end'));
    this.#maybeFinish();
  }

  /**
   * Finishes the client at once. With an error, the remote is sent `error` with its
   * `{message, code}` and `data$` errors with it; without, the remote is sent `end` and `data$`
   * completes. Queued inbound bytes are dropped.
   */
  destroy(error?: Error): void {
    if (this.#finished) return;
    if (!this.#remoteDone?.error) {
      if (error) {
        const code = (error as { code?: unknown }).code;
        this.#host.send(
          this.#frame('error', encodeErrorBody({ message: error.message, code: typeof code === 'string' ? code : undefined })),
        );
      } else if (!this.#localEnded) {
        this.#host.send(this.#frame('end'));
      }
    }
    this.#localEnded = true;
    this.#finish(error);
  }

  /**
   * Tells the client how many inbound bytes its consumer holds but has not finished with (for
   * example a socket's `writableLength`). Counted with the queued bytes against the
   * watermarks, this is what makes a slow consumer pause the remote.
   */
  setConsumerBacklog(bytes: number): void {
    this.#backlog = bytes;
    this.#checkFlow();
  }

  /** @internal The tunnel hands over a frame of this client (data, connection, pause, resume). */
  receive(kind: string, data: Uint8Array): void {
    if (this.#finished) return;
    if (kind === 'pause' || kind === 'resume') {
      this.#remotePaused.next(kind === 'pause');
      this.writableChanged();
    }
    else if (data.length > 0 && !this.#remoteDone) this.#receiveData(data);
  }

  /** @internal The remote ended its side (`error` given: it failed, or the tunnel went away). */
  remoteEnded(error?: Error): void {
    if (this.#finished) return;
    if (this.#remoteDone) {
      // Half-closed (the remote had ended, this side was still sending) when the tunnel went
      // away: what this side still sends can no longer arrive, so the client fails rather than
      // finishing cleanly later on a local end whose bytes were dropped.
      if (error && !this.#remoteDone.error) this.#finish(error);
      return;
    }
    this.#remoteDone = error ? { error } : {};
    // A failed remote takes nothing more from us; a paused sender must not wait for a resume
    // that will never come.
    if (error) this.#localEnded = true;
    this.#remotePaused.next(false);
    this.writableChanged();
    this.#flush();
    this.#maybeFinish();
  }

  #receiveData(data: Uint8Array): void {
    const sink = this.#sink;
    if (sink && this.#queued === 0) {
      sink.next(data);
      return;
    }
    this.#queue.push(data);
    this.#queued += data.length;
    const total = this.#host.adjustQueued(data.length);
    if (total > this.#host.options.maxTunnelBuffer) {
      this.destroy(
        new TunnelError(
          'E_TUNNEL_BUFFER_OVERFLOW',
          `tunnel holds ${total} unconsumed bytes, more than maxTunnelBuffer (${this.#host.options.maxTunnelBuffer})`,
        ),
      );
      return;
    }
    this.#checkFlow();
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.#sink && !this.#sink.closed) {
      const chunk = this.#queue.shift() as Uint8Array;
      this.#queued -= chunk.length;
      this.#host.adjustQueued(-chunk.length);
      this.#sink.next(chunk);
    }
    if (this.#finished) return;
    const sink = this.#sink;
    if (this.#remoteDone && this.#queued === 0 && sink) {
      this.#sink = undefined;
      if (this.#remoteDone.error) sink.error(this.#remoteDone.error);
      else sink.complete();
      // The last queued bytes were what kept a failed (or fully ended) client alive.
      this.#maybeFinish();
      return;
    }
    this.#checkFlow();
  }

  #checkFlow(): void {
    if (this.#finished) return;
    const { highWaterMark, lowWaterMark, maxClientBuffer } = this.#host.options;
    const backlog = this.#queued + this.#backlog;
    if (backlog > maxClientBuffer) {
      this.destroy(
        new TunnelError(
          'E_CLIENT_BUFFER_OVERFLOW',
          `client ${this.id} holds ${backlog} unconsumed bytes, more than maxClientBuffer (${maxClientBuffer}): the remote ignored pause`,
        ),
      );
    } else if (!this.#pausedRemote && backlog > highWaterMark && !this.#remoteDone) {
      this.#pausedRemote = true;
      this.#host.send(this.#frame('pause'));
    } else if (this.#pausedRemote && backlog <= lowWaterMark) {
      this.#pausedRemote = false;
      if (!this.#remoteDone) this.#host.send(this.#frame('resume'));
    }
  }

  #maybeFinish(): void {
    if (this.#localEnded && this.#remoteDone && this.#queued === 0) this.#finish(this.#remoteDone.error);
  }

  #finish(error?: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closeError = error;
    if (this.#queued > 0) this.#host.adjustQueued(-this.#queued);
    this.#queue = [];
    this.#queued = 0;
    const sink = this.#sink;
    this.#sink = undefined;
    if (sink && !sink.closed) {
      if (error) sink.error(error);
      else sink.complete();
    }
    this.#remotePaused.complete();
    const watchers = this.#watchers;
    this.#watchers = undefined;
    if (watchers) for (const watcher of watchers) watcher.onDone?.();
    this.#closed.next(error ? { error } : {});
    this.#closed.complete();
    this.#host.release(this);
  }

  #frame(kind: FrameInit['kind'], data?: Uint8Array): FrameInit {
    const m = this.meta;
    return {
      kind,
      family: m.family,
      address: m.address,
      port: m.port,
      service: m.service,
      serviceport: m.serviceport,
      name: m.name,
      data,
    };
  }
}

/** True when `error` is the remote's report about a client rather than a local failure. */
export function isRemoteError(error: unknown): error is RemoteError {
  return error instanceof RemoteError;
}

