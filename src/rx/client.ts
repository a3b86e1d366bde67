import { Observable, filter, map, skip, type Observer, type Subscriber } from 'rxjs';
import { encodeErrorBody } from '../codec/error-body.js';
import type { ClientMeta, FrameInit } from '../codec/frame.js';
import { RemoteError, TunnelError } from './errors.js';
import type { Borrower, CreditLine } from './credit-line.js';
import type { Lane } from './fair-merge.js';
import type { ResolvedTunnelOptions } from './options.js';
import { sampleStats, type ClientStats } from './stats.js';

/** How a client ended: no `error` for a clean end on both sides. */
export interface ClientClosed {
  readonly error?: Error;
}

/**
 * One client of a tunnel: a visitor's connection, seen as a stream of bytes each way.
 *
 * Inbound bytes arrive on {@link data$} (or {@link fromClient}, which reads them only while its
 * consumer is ready); outbound bytes go through {@link write} (or {@link toClient}). Flow
 * control follows telebit: the remote is sent `pause` when this side's consumer falls behind and
 * `resume` when it catches up; a `pause` from the remote holds this client's outbound bytes.
 */
export interface Client {
  /** `family,address,port`: the id shared with the remote. */
  readonly id: string;
  /** Who the client is and where it was going. */
  readonly meta: ClientMeta;
  /**
   * The client's inbound bytes. Completes on the remote's `end`; errors with a
   * {@link RemoteError} carrying the remote's `{message, code}` on its `error`, or with a
   * `TunnelError` when the tunnel goes away. Bytes that arrive while nobody is subscribed are
   * queued (bounded: see `maxClientBuffer`) and delivered on subscription. One subscriber at a
   * time.
   */
  readonly data$: Observable<Uint8Array>;
  /** Whether the remote asked us to stop sending for this client. Replays the current state. */
  readonly remotePaused$: Observable<boolean>;
  /** True while the remote has this client paused. */
  readonly remotePaused: boolean;
  /**
   * Whether the client has credit: the tunnel lent it a turn to write, its last write has left
   * for the transport and the remote has not paused it (see docs/reactive.md, "How a tunnel
   * serves its clients"). Replays the current state; completes when the client finishes.
   */
  readonly writable$: Observable<boolean>;
  /** The current value of {@link writable$}. */
  readonly writable: boolean;
  /** Emits each time the client becomes writable again after it was not. */
  readonly drain$: Observable<void>;
  /** Emits once when the client is finished on both sides, then completes. Replays. */
  readonly closed$: Observable<ClientClosed>;
  /** The error the client failed with once {@link closed}; undefined for a clean end. */
  readonly errored: Error | undefined;
  /** True once the client is finished (ended both ways, destroyed, or failed). */
  readonly closed: boolean;
  /** Inbound bytes held here, not yet taken by a consumer. */
  readonly queuedBytes: number;
  /** Bytes given to {@link write} so far (not those dropped after the end). */
  readonly bytesWritten: number;
  /** The client's flow now: bytes each way, buffered, paused. Read from counters kept anyway. */
  readonly stats: ClientStats;
  /**
   * {@link stats} sampled once at subscription, every second after, and once more when the
   * client closes; then it completes. Costs nothing while unobserved.
   */
  readonly stats$: Observable<ClientStats>;
  /**
   * Sends bytes to the remote, in order, as soon as the tunnel's fair merge gives the client a
   * turn. Returns {@link writable}: false means the client has no credit, and a producer should
   * wait for `writable$` (the bytes given are sent all the same). Bytes written after
   * {@link end} or once the client is closed are dropped, and false is returned.
   */
  write(chunk: Uint8Array): boolean;
  /** Ends this side: sends `end` after the bytes written. The client is finished once the remote has ended too. */
  end(): void;
  /**
   * Finishes the client at once. With an error, the remote is sent `error` with its
   * `{message, code}` and `data$` errors with it; without, the remote is sent `end` and `data$`
   * completes. Queued inbound bytes are dropped.
   */
  destroy(error?: Error): void;
  /**
   * Tells the client how many inbound bytes its consumer holds but has not finished with (for
   * example a socket's `writableLength`). Counted with the held bytes against the watermarks,
   * this is what makes a slow consumer pause the remote. {@link fromClient} does it for you.
   */
  setConsumerBacklog(bytes: number): void;
}

/** Who watches a client's state (see MproxyClient#watchCredit): a Subscriber will do. */
type StateWatcher<T> = Pick<Observer<T>, 'next' | 'complete'>;
/** Who takes a client's inbound bytes (see MproxyClient#sinkInto): a Subscriber will do. */
type ChunkSink = Observer<Uint8Array> & { readonly closed?: boolean };

/** A frame a client hands to its tunnel's merge, which tells the client when it leaves. */
export interface ClientFrame extends FrameInit {
  readonly owner?: MproxyClient;
}

/**
 * A value and who watches it, in a plain array: a relay has a client per visitor, and a Subject
 * each would cost more than the flag it carries. Every watcher is told the same values, in order.
 */
class Watched<T> {
  #watchers: StateWatcher<T>[] | undefined;
  #told: T;

  constructor(now: T) {
    this.#told = now;
  }

  /**
   * Tells `watcher` the value now, then each change; returns the function that stops watching.
   * Once the client has `finished`, the watcher is completed at once.
   */
  watch(watcher: StateWatcher<T>, now: T, finished = false): () => void {
    if (finished) {
      watcher.complete();
      return noop;
    }
    // A new array for a first watcher: grown by push, it would keep room for seventeen.
    if (this.#watchers && this.#watchers.length > 0) this.#watchers.push(watcher);
    else {
      this.#watchers = [watcher];
      this.#told = now;
    }
    const watchers = this.#watchers;
    watcher.next(this.#told);
    return () => {
      const at = watchers.indexOf(watcher);
      if (at >= 0) watchers.splice(at, 1);
      if (watchers.length === 0 && this.#watchers === watchers) this.#watchers = undefined;
    };
  }

  /**
   * Tells every watcher `now` unless it was told already. A watcher that acts as it is told may
   * change the value again (the nested call tells everyone then) or complete the watchers: the
   * rest must not act on a stale value. Copied only when there are several: a watcher may stop
   * watching as it is told.
   */
  changed(now: T): void {
    const watchers = this.#watchers;
    if (!watchers || watchers.length === 0 || now === this.#told) return;
    this.#told = now;
    for (const watcher of watchers.length === 1 ? watchers : [...watchers]) {
      if (this.#watchers !== watchers || this.#told !== now) return;
      watcher.next(now);
    }
  }

  /** Tells `last` to every watcher that was told otherwise, then completes them all. */
  complete(last: T): void {
    // A copy: a watcher told the last value may stop watching (and leave the array) at once.
    const watchers = this.#watchers ? [...this.#watchers] : [];
    this.#watchers = undefined;
    for (const watcher of watchers) {
      if (this.#told !== last) watcher.next(last);
      watcher.complete();
    }
  }
}

/** What a client needs from its tunnel. */
export interface ClientHost {
  readonly options: ResolvedTunnelOptions;
  /** Adds the client's outbound lane to the tunnel's merge (made on the first outbound frame). */
  addLane(lane: Lane<ClientFrame>): void;
  /** Sends a frame that must not wait behind the client's data (`pause`, `resume`). */
  sendUrgent(frame: FrameInit): void;
  /** Who lends credit to the tunnel's clients. */
  readonly line: CreditLine<MproxyClient>;
  /** Adds to the bytes held in all clients; returns the new total. */
  adjustQueued(delta: number): number;
  /** The client is finished: forget it. */
  release(client: MproxyClient): void;
}

/** The tunnel's client; users see it as {@link Client}. */
export class MproxyClient implements Client, Borrower {
  readonly id: string;
  readonly meta: ClientMeta;

  readonly #host: ClientHost;
  // What the client's observables are made of, each made when first watched: an idle visitor
  // costs its fields, not subscriptions.
  #remotePaused = false;
  #pausedWatched: Watched<boolean> | undefined;
  #writableWatched: Watched<boolean> | undefined;
  #closedWatched: Watched<ClientClosed | undefined> | undefined;
  #closedWith: ClientClosed | undefined;
  /**
   * Where outbound frames enter the tunnel's merge, and how many are in it: made for a frame when
   * there is none, and given up once empty while the client is idle (see #retireLane).
   */
  #lane: Subscriber<ClientFrame> | undefined;
  #inLane = 0;
  /** Data bytes handed to the lane that have not left it yet. */
  #unsent = 0;
  /** Whether the client has credit (lent by the tunnel's line), and the serial of a lend unused. */
  #credit = false;
  #lend = 0;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #backlog = 0;
  #sink: ChunkSink | undefined;
  /** Whether #sink takes bytes now (see fromClient). */
  #sinkReady = true;
  // Set once the remote has ended or failed its side (or the tunnel went away).
  #remoteDone: { error?: Error } | undefined;
  #pausedRemote = false;
  #localEnded = false;
  #finished = false;
  #bytesWritten = 0;
  #bytesRead = 0;
  #pausedMs = 0;
  #pausedSince = 0;
  readonly #openedAt = Date.now();

  constructor(host: ClientHost, meta: ClientMeta, id: string) {
    this.#host = host;
    this.meta = meta;
    this.id = id;
    host.line.ask(this);
  }

  get data$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((subscriber) => this.sinkInto(subscriber));
  }

  /**
   * What `data$` (and fromClient) is made of, without an Observable: `sink` is given the inbound
   * bytes while `ready$`'s latest value is true (always, without it; held here otherwise, where
   * they count against the watermarks), then `complete()` or `error()`. Returns the function
   * that detaches it. (A relay has one per visitor: see connectSocket.)
   */
  sinkInto(sink: ChunkSink, ready$?: Observable<boolean>): () => void {
    if (this.#sink) {
      sink.error(new TunnelError('E_ALREADY_SUBSCRIBED', `client ${this.id}: data$ already has a subscriber`));
      return noop;
    }
    if (this.#finished) {
      if (this.errored) sink.error(this.errored);
      else sink.complete();
      return noop;
    }
    this.#sink = sink;
    this.#sinkReady = ready$ === undefined;
    const gate = ready$?.subscribe((ready) => {
      if (this.#sink !== sink) return;
      this.#sinkReady = ready;
      if (ready) this.#flush();
    });
    this.#flush();
    return () => {
      gate?.unsubscribe();
      if (this.#sink !== sink) return;
      this.#sink = undefined;
      this.#sinkReady = true;
    };
  }

  get remotePaused$(): Observable<boolean> {
    return new Observable<boolean>((subscriber) => (this.#pausedWatched ??= new Watched(false)).watch(subscriber, this.#remotePaused, this.#finished));
  }

  get remotePaused(): boolean {
    return this.#remotePaused;
  }

  get writable$(): Observable<boolean> {
    return new Observable<boolean>((subscriber) => this.watchCredit(subscriber));
  }

  /**
   * What `writable$` is made of, without a subscription: `watcher` is told the credit now,
   * then each change, then `complete()` when the client finishes (at once if it has). Returns
   * the function that stops watching. (A relay has one per visitor: see connectSocket.)
   */
  watchCredit(watcher: StateWatcher<boolean>): () => void {
    return (this.#writableWatched ??= new Watched(true)).watch(watcher, this.writable, this.#finished);
  }

  get writable(): boolean {
    return this.#credit && !this.#finished && !this.#localEnded && !this.#remotePaused;
  }

  get drain$(): Observable<void> {
    return this.writable$.pipe(skip(1), filter((writable) => writable), map(() => undefined));
  }

  get closed$(): Observable<ClientClosed> {
    return new Observable<ClientClosed>((subscriber) => {
      const closed = this.#closedWith;
      if (!closed) {
        const watched = (this.#closedWatched ??= new Watched<ClientClosed | undefined>(undefined));
        return watched.watch({ next: (value) => value && subscriber.next(value), complete: () => subscriber.complete() }, undefined);
      }
      subscriber.next(closed);
      subscriber.complete();
    });
  }

  get errored(): Error | undefined {
    return this.#closedWith?.error;
  }

  get closed(): boolean {
    return this.#finished;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  get stats(): ClientStats {
    const paused = this.#remotePaused;
    return {
      bytesIn: this.#bytesRead,
      bytesOut: this.#bytesWritten,
      bufferedIn: this.#queued + this.#backlog,
      bufferedOut: this.#unsent,
      paused,
      pausedMs: this.#pausedMs + (paused && this.#pausedSince > 0 ? performance.now() - this.#pausedSince : 0),
      openedAt: this.#openedAt,
    };
  }

  get stats$(): Observable<ClientStats> {
    return sampleStats(() => this.stats, this.closed$);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#finished || this.#localEnded) return false;
    this.#bytesWritten += chunk.length;
    this.#unsent += chunk.length;
    this.#host.line.held(chunk.length, this.#lend !== 0);
    this.#credit = false;
    this.#lend = 0;
    const limit = this.#host.options.maxFrameSize;
    // A remote with the default limit must accept every frame we send.
    for (let at = 0; at < chunk.length; at += limit) {
      this.#send('data', at === 0 && chunk.length <= limit ? chunk : chunk.subarray(at, at + limit));
    }
    this.#writableChanged();
    return this.writable;
  }

  end(): void {
    if (this.#finished || this.#localEnded) return;
    this.#localEnded = true;
    this.#leaveLine();
    this.#send('end');
    this.#writableChanged();
    this.#maybeFinish();
  }

  destroy(error?: Error): void {
    if (this.#finished) return;
    if (!this.#remoteDone?.error) {
      if (error) {
        const code = (error as { code?: unknown }).code;
        this.#send('error', encodeErrorBody({ message: error.message, code: typeof code === 'string' ? code : undefined }));
      } else if (!this.#localEnded) {
        this.#send('end');
      }
    }
    this.#localEnded = true;
    this.#finish(error);
  }

  setConsumerBacklog(bytes: number): void {
    this.#backlog = bytes;
    this.#checkFlow();
  }

  /** Sends the client's `connection` frame (a client this side opens). */
  open(): void {
    this.#send('connection');
  }

  /** The tunnel's merge let one of this client's frames leave for the transport. */
  left(frame: ClientFrame): void {
    this.#inLane--;
    if (frame.kind === 'data') {
      const bytes = frame.data?.length ?? 0;
      this.#unsent -= bytes;
      this.#host.line.held(-bytes, false);
      this.#askForCredit();
    }
    this.#retireLane();
  }

  lend(serial: number): void {
    this.#credit = true;
    this.#lend = serial;
    this.#writableChanged();
  }

  park(): void {
    this.#lend = 0;
    this.#retireLane();
  }

  /**
   * Completes an empty lane once the client is idle (credit it has not used for a turn) or has
   * nothing more to write: the merge forgets it, and the next frame makes a new one. A busy client
   * keeps its lane from one read to the next.
   */
  #retireLane(): void {
    const lane = this.#lane;
    if (!lane || this.#inLane > 0) return;
    if (!this.#localEnded && !(this.#credit && this.#lend === 0)) return;
    this.#lane = undefined;
    lane.complete();
  }

  get unusedLend(): number {
    return this.#lend;
  }

  /** In line for credit once the last write has left and the remote takes more. */
  #askForCredit(): void {
    if (this.#credit || this.#unsent > 0 || this.#finished || this.#localEnded || this.#remotePaused) return;
    this.#host.line.ask(this);
  }

  #leaveLine(): void {
    this.#host.line.leave(this);
    this.#lend = 0;
  }

  /** The tunnel hands over a frame of this client (data, connection, pause, resume). */
  receive(kind: string, data: Uint8Array): void {
    if (this.#finished) return;
    if (kind === 'pause' || kind === 'resume') {
      this.#setPaused(kind === 'pause');
      this.#askForCredit();
      this.#writableChanged();
    } else if (data.length > 0 && !this.#remoteDone) {
      this.#bytesRead += data.length;
      this.#receiveData(data);
    }
  }

  /** Keeps the time paused too: pause and resume frames are rare, not per chunk. */
  #setPaused(pause: boolean): void {
    const paused = this.#remotePaused;
    if (pause === paused) return;
    if (pause) this.#pausedSince = performance.now();
    else if (this.#pausedSince > 0) {
      this.#pausedMs += performance.now() - this.#pausedSince;
      this.#pausedSince = 0;
    }
    this.#remotePaused = pause;
    this.#pausedWatched?.changed(pause);
  }

  /** The remote ended its side (`error` given: it failed, or the tunnel went away). */
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
    this.#setPaused(false);
    this.#askForCredit();
    this.#writableChanged();
    this.#flush();
    this.#maybeFinish();
  }

  #send(kind: FrameInit['kind'], data?: Uint8Array): void {
    if (!this.#lane) {
      const items$ = new Observable<ClientFrame>((subscriber) => void (this.#lane = subscriber));
      this.#host.addLane({ items$, paused$: this.remotePaused$ });
    }
    this.#inLane++;
    this.#lane?.next(this.#frameOf(kind, data, this));
  }

  #writableChanged(): void {
    this.#writableWatched?.changed(this.writable);
  }

  #receiveData(data: Uint8Array): void {
    const sink = this.#sink;
    if (sink && this.#sinkReady && this.#queued === 0) {
      sink.next(data);
      return;
    }
    this.#queue.push(data);
    this.#queued += data.length;
    const total = this.#host.adjustQueued(data.length);
    const max = this.#host.options.maxTunnelBuffer;
    if (total > max) {
      this.destroy(new TunnelError('E_TUNNEL_BUFFER_OVERFLOW', `tunnel holds ${total} unconsumed bytes, more than maxTunnelBuffer (${max})`));
      return;
    }
    this.#checkFlow();
  }

  #flush(): void {
    const queue = this.#queue;
    while (queue.length > 0 && this.#sink && this.#sinkReady && !this.#sink.closed) {
      const chunk = queue.shift() as Uint8Array;
      this.#queued -= chunk.length;
      this.#host.adjustQueued(-chunk.length);
      this.#sink.next(chunk);
    }
    // An emptied array keeps its room; one held per idle client adds up.
    if (queue.length === 0) queue.length = 0;
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
      const why = `holds ${backlog} unconsumed bytes, more than maxClientBuffer (${maxClientBuffer}): the remote ignored pause`;
      this.destroy(new TunnelError('E_CLIENT_BUFFER_OVERFLOW', `client ${this.id} ${why}`));
    } else if (!this.#pausedRemote && backlog > highWaterMark && !this.#remoteDone) {
      this.#pausedRemote = true;
      this.#host.sendUrgent(this.#frameOf('pause'));
    } else if (this.#pausedRemote && backlog <= lowWaterMark) {
      this.#pausedRemote = false;
      if (!this.#remoteDone) this.#host.sendUrgent(this.#frameOf('resume'));
    }
  }

  #maybeFinish(): void {
    if (this.#localEnded && this.#remoteDone && this.#queued === 0) this.#finish(this.#remoteDone.error);
  }

  #finish(error?: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#leaveLine();
    const closed: ClientClosed = error ? { error } : {};
    this.#closedWith = closed;
    if (this.#queued > 0) this.#host.adjustQueued(-this.#queued);
    this.#queue = [];
    this.#queued = 0;
    const sink = this.#sink;
    this.#sink = undefined;
    if (sink && !sink.closed) {
      if (error) sink.error(error);
      else sink.complete();
    }
    // What is still in the lane leaves (a paused remote must still hear the end): unpaused,
    // then the lane completes once its last frame is out.
    this.#setPaused(false);
    this.#pausedWatched?.complete(false);
    this.#lane?.complete();
    this.#lane = undefined;
    this.#writableWatched?.complete(false);
    this.#closedWatched?.complete(closed);
    this.#host.release(this);
  }

  /** A frame of this client; one from its lane names it as `owner` (see `left`). */
  #frameOf(kind: FrameInit['kind'], data?: Uint8Array, owner?: MproxyClient): ClientFrame {
    return { kind, ...this.meta, data, owner };
  }
}

function noop(): void {}
