import {
  AsyncSubject,
  BehaviorSubject,
  Observable,
  Subject,
  share,
  tap,
  type GroupedObservable,
  type Subscription,
} from 'rxjs';
import { asBuffer } from '../codec/bytes.js';
import { encodeFrameParts, headerOf, type EncodedFrame } from '../codec/encode.js';
import { InvalidFrameError } from '../codec/errors.js';
import { encodeErrorBody } from '../codec/error-body.js';
import { MAX_HEADER_BYTES, addrToId, clientMetaOf, type ClientMeta, type Frame, type FrameInit } from '../codec/frame.js';
import type { Transport } from '../transport/transport.js';
import { Client, type ClientHost } from './client.js';
import { decodeFrames } from './decode-frames.js';
import { RemoteError, TunnelError } from './errors.js';
import { groupByClient } from './group-by-client.js';
import { resolveTunnelOptions, type ResolvedTunnelOptions, type TunnelOptions } from './options.js';

/**
 * What a client served may write, across congestions, before those waiting behind it go
 * first (see Tunnel#serve); also what a client writing without a turn may write while others
 * wait (see Tunnel#mayWrite). Small enough that no one waits long behind a bulk
 * transfer, large enough that a client is not cut into many turns: between two turns, the
 * chunk its socket read last waits a whole round, and with a thousand clients such waits cost
 * V8 far more than the turns are worth (at 64 KiB, the 1000-visitor bench spent half again as
 * much CPU).
 */
const TURN_BYTES = 1024 * 1024;
/**
 * Clients waiting at once, during a congestion, from which the tunnel asks the producers of
 * all the others to stop reading ahead (see #stopProducers): that many in line is a burst, and
 * each other client still flowing would read a chunk only to hold it back as well. A few
 * clients waiting is the ordinary case, and costs less than stopping everyone.
 */
const BURST_WAITERS = 16;

/** Where a tunnel is in its life. */
export type TunnelState = 'open' | 'closed';

/** What `tunnel.open()` takes: the client's address, and where it is going. */
export interface OpenClientMeta {
  readonly family: string;
  readonly address: string;
  readonly port: number | null;
  readonly service?: string;
  readonly serviceport?: number | null;
  readonly name?: string;
}

/** Many clients multiplexed over one transport, speaking M-PROXY. */
export interface Tunnel {
  /**
   * Each client the remote opens (a `connection` frame, or the first `data` frame of an unknown
   * id unless `unknownData: 'reject'`). Clients the remote opens while nobody is subscribed are
   * refused with `E_NOT_ACCEPTING`. Completes when the tunnel closes.
   */
  readonly clients$: Observable<Client>;
  /** The decoded JSON bodies of `control` frames (bodies that are not JSON are skipped). */
  readonly control$: Observable<unknown>;
  /** Every frame decoded from the remote, as it arrives: for taps and logging. */
  readonly frames$: Observable<Frame>;
  /** `open`, then `closed`. Replays the current state. */
  readonly state$: Observable<TunnelState>;
  /** Emits once, when the tunnel has closed, with the error that closed it if any. Replays. */
  readonly closed$: Observable<{ readonly error?: Error }>;
  /** The clients alive now, by id, in the order they opened. */
  readonly clients: ReadonlyMap<string, Client>;
  /** Opens a client toward the remote: sends `connection`. */
  open(meta: OpenClientMeta): Client;
  /** Sends a `control` frame whose body is `JSON.stringify(message)`. */
  sendControl(message: unknown): void;
  /** Ends every client (`end` sent), flushes, and closes the transport. */
  close(): void;
  /** Closes at once; clients fail with `E_TUNNEL_CLOSED` (and `error` as its cause). */
  destroy(error?: Error): void;
}

// Ids of clients that just finished: late data for them is dropped instead of opening a new
// client with the tail of a dead stream (a telebit bug). Bounded: oldest forgotten first.
const TOMBSTONES = 4096;

/**
 * Makes a tunnel over a transport. Reading starts at once (transports deliver asynchronously,
 * so subscribe to `clients$` and `control$` in the same tick).
 *
 * ```ts
 * const tunnel = createTunnel(fromWebSocket(ws));
 * tunnel.clients$.subscribe((client) => client.data$.subscribe((chunk) => client.write(chunk)));
 * ```
 */
export function createTunnel(transport: Transport, options?: TunnelOptions): Tunnel {
  return new MproxyTunnel(transport, resolveTunnelOptions(options));
}

class MproxyTunnel implements Tunnel, ClientHost {
  readonly options: ResolvedTunnelOptions;
  readonly #transport: Transport;
  readonly #clients = new Map<string, Client>();
  /**
   * The clients in the middle of a turn they were given when served (see #serve), with their
   * `bytesWritten` when it began.
   */
  readonly #turns = new Map<Client, number>();
  /**
   * The clients that write without a turn while others wait, with their `bytesWritten` when
   * that was first seen: past TURN_BYTES they give way (see mayWrite). Unlike a turn, this gives
   * no place ahead of anyone. Forgotten once nobody waits.
   */
  readonly #quotas = new Map<Client, number>();
  /** Those of #turns waiting to be served (a watcher of theirs holds `false`). */
  readonly #turnsWaiting = new Set<Client>();
  /** The other clients waiting to be served, in the order they began to wait. */
  readonly #waiting = new Set<Client>();
  /** Clients with an eager watcher (`writable$`): told of every congestion. */
  readonly #eager = new Set<Client>();
  /** Queue size up to which waiting clients are served (see #hasRoom). */
  readonly #serveRoom: number;
  /** Room held for producers served after a stop, until they write (see reserveRoom). */
  readonly #reservations = new Map<Client, number>();
  #reserved = 0;
  /** The producers were asked to stop for the line as it is (see awaitTurn). */
  #burstStopped = false;
  readonly #tombstones = new Map<string, true>();
  readonly #newClients = new Subject<Client>();
  readonly #control = new Subject<unknown>();
  readonly #frames = new Subject<Frame>();
  readonly #state = new BehaviorSubject<TunnelState>('open');
  readonly #closedWith = new AsyncSubject<{ readonly error?: Error }>();
  readonly #release = new Subject<string>();
  readonly #congested = new BehaviorSubject<boolean>(false);
  readonly #subscriptions: Subscription[] = [];
  #queued = 0;
  #inputEnded = false;
  #transportClosed = false;

  readonly clients$: Observable<Client> = this.#newClients.asObservable();
  readonly control$: Observable<unknown> = this.#control.asObservable();
  readonly frames$: Observable<Frame> = this.#frames.asObservable();
  readonly state$: Observable<TunnelState> = new Observable<TunnelState>((subscriber) => {
    // A completed BehaviorSubject forgets its value; late subscribers must still hear 'closed'.
    if (this.#state.value === 'closed') {
      subscriber.next('closed');
      subscriber.complete();
      return;
    }
    return this.#state.subscribe(subscriber);
  });
  readonly closed$: Observable<{ readonly error?: Error }> = this.#closedWith.asObservable();

  constructor(transport: Transport, options: ResolvedTunnelOptions) {
    this.options = options;
    this.#transport = transport;
    const { flushed$, lowWaterMark } = transport;
    this.#serveRoom = flushed$ !== undefined && lowWaterMark !== undefined ? lowWaterMark : Infinity;
    this.#subscriptions.push(transport.congested$.subscribe(this.#congested));
    // One subscription for all clients: a flip reaches the clients it concerns by a plain call,
    // not by one RxJS subscription per client.
    this.#subscriptions.push(
      this.#congested.subscribe((congested) => {
        if (congested) this.#congestionBegins();
        else this.#congestionEnds();
      }),
    );
    if (transport.flushed$) {
      this.#subscriptions.push(
        transport.flushed$.subscribe(() => {
          if (this.#turnsWaiting.size > 0 || this.#waiting.size > 0) this.#serve();
        }),
      );
    }
    // Not in #subscriptions: it must outlive #shutdown (see there). It completes on its own.
    transport.closed$.subscribe(() => {
      this.#transportClosed = true;
      if (this.#state.value === 'closed') this.#unsubscribe();
    });
    const frames$ = transport.incoming$.pipe(
      decodeFrames({ maxFrameSize: options.maxFrameSize }),
      tap({
        next: (frame) => {
          this.#frames.next(frame);
          if (frame.kind === 'control') this.#onControl(frame);
        },
        // Seen before groupByClient completes the groups: a group completing now is the
        // tunnel going away, not its client's end.
        complete: () => (this.#inputEnded = true),
        error: () => (this.#inputEnded = true),
      }),
      share(),
    );
    this.#subscriptions.push(
      frames$.pipe(groupByClient({ release$: this.#release, isOpen: (id) => this.#clients.has(id) })).subscribe({
        next: (group) => this.#attach(group),
        error: (error: unknown) => this.#shutdown(asError(error)),
        complete: () => this.#shutdown(),
      }),
    );
  }

  get clients(): ReadonlyMap<string, Client> {
    return this.#clients;
  }

  open(meta: OpenClientMeta): Client {
    if (this.#state.value === 'closed') throw new TunnelError('E_TUNNEL_CLOSED', 'the tunnel is closed');
    const full: ClientMeta = {
      family: meta.family,
      address: meta.address,
      port: meta.port,
      service: meta.service ?? '',
      serviceport: meta.serviceport ?? null,
      name: meta.name ?? '',
    };
    const id = addrToId(full);
    if (this.#clients.has(id)) throw new TunnelError('E_CLIENT_EXISTS', `a client ${id} is already open`);
    // Validated before anything is sent: a bad field throws its own error from the encoder, and
    // a client whose later frames (a full datalen, `resume`) would not fit is refused here.
    const connection = encodeFrameParts({ kind: 'connection', ...full });
    if (!this.#fits(full)) {
      throw new InvalidFrameError('E_HEADER_TOO_LONG', `client ${id}: its frames would not fit the 255-byte header`);
    }
    this.#write(connection);
    this.#tombstones.delete(id);
    const client = new Client(this, full, id);
    this.#clients.set(id, client);
    return client;
  }

  sendControl(message: unknown): void {
    this.send({ kind: 'control', data: Buffer.from(JSON.stringify(message)) });
  }

  close(): void {
    if (this.#state.value === 'closed') return;
    for (const client of [...this.#clients.values()]) client.destroy();
    this.#transport.close();
    this.#shutdown();
  }

  destroy(error?: Error): void {
    if (this.#state.value === 'closed') return;
    this.#transport.destroy(error);
    this.#shutdown(error);
  }

  // ClientHost

  mayWrite(client: Client): boolean {
    if (this.#congested.value) return false;
    // Nobody waits for a turn: the common case, settled without a lookup.
    if (this.#turnsWaiting.size === 0 && this.#waiting.size === 0) return true;
    if (this.#turnsWaiting.has(client) || this.#waiting.has(client)) return false;
    // Others wait: this client writes within its turn, or within a quota counted from now if it
    // has none; otherwise clients that keep the queue busy without ever congesting it (or that
    // miss the congestions others meet) would starve those waiting.
    const start = this.#turns.get(client) ?? this.#quotas.get(client);
    if (start === undefined) {
      if (this.#clients.get(client.id) === client) this.#quotas.set(client, client.bytesWritten);
      return true;
    }
    return client.bytesWritten - start < TURN_BYTES;
  }

  awaitTurn(client: Client): void {
    // Not a client of this tunnel (any more): nothing to serve.
    if (this.#clients.get(client.id) !== client) return;
    if (this.#turnsWaiting.has(client) || this.#waiting.has(client)) return;
    const start = this.#turns.get(client);
    if (start !== undefined && client.bytesWritten - start < TURN_BYTES) {
      this.#turnsWaiting.add(client);
    } else {
      // No turn left (a quota is none): behind everyone already waiting.
      this.#turns.delete(client);
      this.#quotas.delete(client);
      this.#waiting.add(client);
    }
    // Once per burst: not again until the line has shortened below it (see #serve).
    if (!this.#burstStopped && this.#congested.value && this.#turnsWaiting.size + this.#waiting.size >= BURST_WAITERS) {
      this.#burstStopped = true;
      this.#stopProducers();
    }
  }

  /**
   * A burst: many clients ran into the same congestion at once, and the others still flowing
   * are about to read their next chunks into it too (a paused socket reads one chunk ahead, so
   * each would be read only to be held back until its turn: with 1000 visitors that was 64 MiB
   * held, promoted by V8 and collected by full GCs). Their producers are asked to stop reading
   * now; those that can wait in line with nothing held, and start again when served.
   */
  #stopProducers(): void {
    for (const client of this.#clients.values()) {
      if (!this.#waiting.has(client) && !this.#turnsWaiting.has(client)) client.stopProducing();
    }
  }

  reserveRoom(client: Client, bytes: number): void {
    if (this.#clients.get(client.id) !== client) return;
    this.#reserved += bytes - (this.#reservations.get(client) ?? 0);
    this.#reservations.set(client, bytes);
  }

  releaseRoom(client: Client, expired: boolean): void {
    this.#dropReservation(client);
    // Held for nothing (the producer had nothing to read, or its client finished and the room
    // was forgotten): others are served now, since no flush may come to serve them (the queue
    // can be empty, every other producer stopped). A release by a write is followed by the
    // bytes written, whose flush serves them; serving there would nest in that write.
    if (expired && (this.#turnsWaiting.size > 0 || this.#waiting.size > 0)) this.#serve();
  }

  watchCongestion(client: Client, eager: boolean): void {
    if (!eager) this.#eager.delete(client);
    else if (this.#clients.get(client.id) === client) this.#eager.add(client);
  }

  /**
   * Tells the clients with eager watchers that writing must wait. The others learn of it when
   * they next try to write (see `Client.watchWritable`): a congestion costs the clients that
   * are busy, not all of them.
   */
  #congestionBegins(): void {
    // Each hands itself to awaitTurn (writableChanged), holding `false`.
    for (const client of [...this.#eager]) client.writableChanged();
  }

  /**
   * Tells the waiting clients that they may write again, one after the other, while the
   * transport has room for them (see #hasRoom): the rest have heard nothing and wait for the
   * next flush. Serving so costs the clients it serves, however many are waiting (a producer
   * told `true` hands over what it holds at once: see connectSocket).
   *
   * The order: a client served begins a turn of TURN_BYTES, and while the turn lasts (and the
   * client keeps running into congestions) it is told before the others; then it waits behind
   * those that were waiting already. Within each group, the order they began to wait. Without
   * turns, the clients that came first kept the front, and with more busy clients than a drain
   * has room for, the others never wrote at all; with one chunk per turn, each waiting
   * socket's chunk would wait a whole round.
   */
  #serve(): void {
    serving: {
      for (const client of this.#turnsWaiting) {
        if (!this.#hasRoom()) break serving;
        this.#turnsWaiting.delete(client);
        client.writableChanged();
      }
      for (const client of this.#waiting) {
        if (!this.#hasRoom()) break serving;
        this.#waiting.delete(client);
        this.#turns.set(client, client.bytesWritten);
        client.writableChanged();
      }
    }
    const waiting = this.#turnsWaiting.size + this.#waiting.size;
    if (waiting === 0) this.#quotas.clear();
    if (waiting < BURST_WAITERS) this.#burstStopped = false;
  }

  /** A drain: the turns of clients that wrote all they had without meeting it are over. */
  #congestionEnds(): void {
    for (const client of this.#turns.keys()) {
      if (!this.#turnsWaiting.has(client)) this.#turns.delete(client);
    }
    this.#serve();
  }

  /**
   * Whether a waiting client may be served now: while the transport's queue is at or below its
   * low watermark. Not up to the high watermark: the clients already writing (their sockets
   * flowing) read their next chunks before the queue is flushed, and a queue the served ones
   * filled turned every such read into a chunk held back and a socket paused again (with 1000
   * busy visitors, every chunk was held back once). The room above the low watermark is
   * theirs, and the next flush serves more. A transport without flushed$ is served until it
   * congests again, since its next drain is the next chance.
   */
  #hasRoom(): boolean {
    return !this.#congested.value && this.#transport.bufferedAmount + this.#reserved <= this.#serveRoom;
  }

  send(frame: FrameInit): void {
    this.#write(encodeFrameParts(frame));
  }

  #write({ header, body }: EncodedFrame): void {
    if (!this.#transport.isOpen) return;
    // Header and body go as they are: the transport joins them its own way (one corked
    // syscall on a socket, one message on a WebSocket) without a copy made here first.
    if (body.length === 0) this.#transport.write(header);
    else this.#transport.writev([header, body]);
  }

  adjustQueued(delta: number): number {
    this.#queued += delta;
    return this.#queued;
  }

  release(client: Client): void {
    if (this.#clients.get(client.id) !== client) return;
    this.#clients.delete(client.id);
    this.#forget(client);
    this.#tombstones.set(client.id, true);
    if (this.#tombstones.size > TOMBSTONES) {
      this.#tombstones.delete(this.#tombstones.keys().next().value as string);
    }
    this.#release.next(client.id);
  }

  #forget(client: Client): void {
    this.#turns.delete(client);
    this.#quotas.delete(client);
    this.#turnsWaiting.delete(client);
    this.#waiting.delete(client);
    this.#eager.delete(client);
    this.#dropReservation(client);
  }

  #dropReservation(client: Client): void {
    const bytes = this.#reservations.get(client);
    if (bytes === undefined) return;
    this.#reservations.delete(client);
    this.#reserved -= bytes;
  }

  #attach(group: GroupedObservable<string, Frame>): void {
    let client = this.#clients.get(group.key);
    // Not kept: a group always ends (its client's end or error, a release, or the tunnel's
    // shutdown), which closes this subscription; keeping it would grow with every client.
    group.subscribe({
      next: (frame) => {
        if (!client) {
          client = this.#accept(frame);
          if (!client) {
            this.#release.next(group.key);
            return;
          }
        }
        client.receive(frame.kind, frame.data);
      },
      complete: () => client?.remoteEnded(this.#inputEnded ? closedBy() : undefined),
      error: (error: unknown) => client?.remoteEnded(error instanceof RemoteError ? error : closedBy(error)),
    });
  }

  #accept(frame: Frame): Client | undefined {
    const id = frame.id;
    if (frame.kind === 'data') {
      if (this.#tombstones.has(id)) return undefined;
      if (this.options.unknownData === 'reject') {
        this.#refuse(frame, 'E_NO_CONN', 'no matching connection');
        return undefined;
      }
    }
    if (!this.#newClients.observed) {
      this.#refuse(frame, 'E_NOT_ACCEPTING', 'this side accepts no clients');
      return undefined;
    }
    const meta = clientMetaOf(frame);
    // Every frame we would send back carries this header with a datalen of its own: a client
    // whose replies could not be encoded must not be accepted (a write would throw later).
    if (!this.#fits(meta)) {
      this.#refuse(frame, 'E_HEADER_TOO_LONG', 'the client header leaves no room for replies');
      return undefined;
    }
    this.#tombstones.delete(id);
    const client = new Client(this, meta, id);
    this.#clients.set(id, client);
    this.#newClients.next(client);
    return client;
  }

  /** Whether the longest frame a client could send back (data or resume, a full datalen) fits. */
  #fits(meta: ClientMeta): boolean {
    try {
      for (const kind of ['data', 'resume'] as const) {
        if (Buffer.byteLength(headerOf({ ...meta, kind }, this.options.maxFrameSize)) > MAX_HEADER_BYTES) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Answers a frame with `error`. Only the id fields are echoed, and an answer that still cannot
   * be encoded (a hostile header near the 255-byte limit) is not sent: a refusal must never
   * throw inside the inbound pipeline.
   */
  #refuse(frame: Frame, code: string, message: string): void {
    try {
      this.send({
        kind: 'error',
        family: frame.family,
        address: frame.address,
        port: frame.port,
        data: encodeErrorBody({ message, code }),
      });
    } catch {
      // Nothing can be said to this id; the frame is dropped all the same.
    }
  }

  #onControl(frame: Frame): void {
    let message: unknown;
    try {
      message = JSON.parse(asBuffer(frame.data).toString('utf8'));
    } catch {
      return;
    }
    this.#control.next(message);
  }

  #unsubscribe(): void {
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
  }

  #shutdown(error?: Error): void {
    if (this.#state.value === 'closed') return;
    this.#state.next('closed');
    const reason = closedBy(error);
    for (const client of [...this.#clients.values()]) client.remoteEnded(reason);
    this.#clients.clear();
    this.#turns.clear();
    this.#quotas.clear();
    this.#turnsWaiting.clear();
    this.#waiting.clear();
    this.#eager.clear();
    this.#reservations.clear();
    this.#reserved = 0;
    this.#burstStopped = false;
    if (this.#transport.isOpen) {
      if (error) this.#transport.destroy(error);
      else this.#transport.close();
    }
    // A closing transport must go on reading until it has closed: it sees the remote's end (a
    // WebSocket's closing handshake, a FIN behind unread bytes) only through incoming$. What
    // still arrives meets no client and is dropped.
    if (this.#transportClosed) this.#unsubscribe();
    this.#newClients.complete();
    this.#control.complete();
    this.#frames.complete();
    this.#release.complete();
    this.#closedWith.next(error ? { error } : {});
    this.#closedWith.complete();
    this.#state.complete();
  }
}

function closedBy(cause?: unknown): TunnelError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new TunnelError('E_TUNNEL_CLOSED', `the tunnel closed${detail}`, cause === undefined ? undefined : { cause });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
