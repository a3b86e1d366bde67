import { AsyncSubject, BehaviorSubject, Observable, Subject, Subscription, defer, map, of, startWith, tap, type Subscriber } from 'rxjs';
import { asBuffer } from '../codec/bytes.js';
import { encodeFrameParts, headerOf } from '../codec/encode.js';
import { InvalidFrameError } from '../codec/errors.js';
import { encodeErrorBody } from '../codec/error-body.js';
import { MAX_HEADER_BYTES, addrToId, clientMetaOf, type ClientMeta, type Frame, type FrameInit } from '../codec/frame.js';
import type { Transport } from '../transport/transport.js';
import { MproxyClient, type Client, type ClientFrame, type ClientHost } from './client.js';
import { CreditLine } from './credit-line.js';
import { decodeFrames } from './decode-frames.js';
import { encodeFrames } from './encode-frames.js';
import { fairMerge, type Lane } from './fair-merge.js';
import { TunnelError, remoteErrorOf } from './errors.js';
import { resolveTunnelOptions, type ResolvedTunnelOptions, type TunnelOptions } from './options.js';
import { sampleStats, type TunnelStats } from './stats.js';

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
  /** Every frame decoded from the remote as it arrives (data straddling chunks in pieces): for taps and logging. */
  readonly frames$: Observable<Frame>;
  /** `open`, then `closed`. Replays the current state. */
  readonly state$: Observable<TunnelState>;
  /** Emits once, when the tunnel has closed, with the error that closed it if any. Replays. */
  readonly closed$: Observable<{ readonly error?: Error }>;
  /** The clients alive now, by id, in the order they opened. */
  readonly clients: ReadonlyMap<string, Client>;
  /**
   * The tunnel's flow now (bytes each way, buffered, paused clients), summed over its clients
   * when read: nothing is counted for it on the way.
   */
  readonly stats: TunnelStats;
  /**
   * {@link stats} sampled once at subscription, every second after, and once more when the
   * tunnel closes; then it completes. Costs nothing while unobserved.
   */
  readonly stats$: Observable<TunnelStats>;
  /** Opens a client toward the remote: sends `connection`. */
  open(meta: OpenClientMeta): Client;
  /** Sends a `control` frame whose body is `JSON.stringify(message)`. */
  sendControl(message: unknown): void;
  /** Ends every client (`end` sent), flushes, and closes the transport. */
  close(): void;
  /** Closes at once; clients fail with `E_TUNNEL_CLOSED` (and `error` as its cause). */
  destroy(error?: Error): void;
}

// Ids of clients that just finished or were refused: late data for them is dropped instead of
// opening a new client with the tail of a dead stream (a telebit bug), or drawing a refusal per
// frame. Bounded: oldest forgotten first.
const TOMBSTONES = 4096;
/**
 * What the tunnel lets its clients read ahead of the transport (see CreditLine): eight socket
 * reads keep a transport busy, and each byte waits a millisecond or two, not the time it takes
 * every busy client's read to leave. (A larger budget only holds more: at 1000 busy visitors,
 * 4 MiB moved fewer bytes per CPU second than 1 MiB, and 1 MiB no more than 512 KiB.)
 */
export const LENDING_BUDGET = 512 * 1024;
/** The most one read of a Node socket delivers. */
const READ_SIZE = 64 * 1024;

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
  readonly #clients = new Map<string, MproxyClient>();
  /** Every client's outbound lane, as it is made; completed when the tunnel closes. */
  readonly #lanes = new Subject<Lane<ClientFrame>>();
  /** The lane of the tunnel's own frames (control, pause, resume, refusals). */
  #urgent: Subscriber<FrameInit> | undefined;
  readonly #tombstones = new Map<string, true>();
  readonly #newClients = new Subject<Client>();
  readonly #control = new Subject<unknown>();
  readonly #frames = new Subject<Frame>();
  readonly #state = new BehaviorSubject<TunnelState>('open');
  readonly #closedWith = new AsyncSubject<{ readonly error?: Error }>();
  readonly #subscription = new Subscription();
  readonly line = new CreditLine<MproxyClient>(LENDING_BUDGET, READ_SIZE);
  #queued = 0;
  /** Bytes of the clients that finished, each way (the live ones are read from them). */
  #retiredIn = 0;
  #retiredOut = 0;
  #transportClosed = false;

  readonly clients: ReadonlyMap<string, Client> = readonlyView(this.#clients);
  readonly clients$: Observable<Client> = this.#newClients.asObservable();
  readonly control$: Observable<unknown> = this.#control.asObservable();
  readonly frames$: Observable<Frame> = this.#frames.asObservable();
  // A completed BehaviorSubject forgets its value; late subscribers must still hear 'closed'.
  readonly state$: Observable<TunnelState> = defer(() => (this.#state.value === 'closed' ? of<TunnelState>('closed') : this.#state));
  readonly closed$: Observable<{ readonly error?: Error }> = this.#closedWith.asObservable();

  constructor(transport: Transport, options: ResolvedTunnelOptions) {
    this.options = options;
    this.#transport = transport;
    // The one way out: every lane, merged fairly while the transport takes more, packed.
    const urgent: Lane<ClientFrame> = { items$: new Observable<ClientFrame>((subscriber) => void (this.#urgent = subscriber)) };
    this.#subscription.add(
      this.#lanes
        .pipe(
          startWith(urgent),
          fairMerge({ ready$: transport.congested$.pipe(map((congested) => !congested)), size: frameCost }),
          // Credit comes back to the client as its bytes leave, before the transport has them:
          // a producer that writes at once queues behind them, in the merge.
          tap((frame: ClientFrame) => frame.owner?.left(frame)),
          encodeFrames(),
        )
        .subscribe({
          next: (parts) => {
            if (transport.isOpen) transport.writev(parts);
          },
          // Every frame was checked when its client was made: a failure here is a bug, and the
          // tunnel cannot go on without a way out.
          error: (error: unknown) => this.destroy(asError(error)),
          // Closed, and everything queued has left: the transport may close now.
          complete: () => transport.close(),
        }),
    );
    // Not in #subscription: it must outlive #shutdown (see there). It completes on its own.
    transport.closed$.subscribe(() => {
      this.#transportClosed = true;
      if (this.#state.value === 'closed') this.#subscription.unsubscribe();
    });
    this.#subscription.add(
      transport.incoming$.pipe(decodeFrames({ maxFrameSize: options.maxFrameSize, splitData: true })).subscribe({
        next: (frame) => {
          this.#frames.next(frame);
          if (frame.kind === 'control') this.#onControl(frame);
          else this.#dispatch(frame);
        },
        error: (error: unknown) => this.#shutdown(asError(error)),
        complete: () => this.#shutdown(),
      }),
    );
  }

  get stats(): TunnelStats {
    let bytesIn = this.#retiredIn;
    let bytesOut = this.#retiredOut;
    let bufferedOut = 0;
    let pausedClients = 0;
    for (const client of this.#clients.values()) {
      const stats = client.stats;
      bytesIn += stats.bytesIn;
      bytesOut += stats.bytesOut;
      bufferedOut += stats.bufferedOut;
      if (stats.paused) pausedClients++;
    }
    return { clients: this.#clients.size, bytesIn, bytesOut, bufferedIn: this.#queued, bufferedOut, pausedClients };
  }

  get stats$(): Observable<TunnelStats> {
    return sampleStats(() => this.stats, this.#closedWith);
  }

  open(meta: OpenClientMeta): Client {
    if (this.#state.value === 'closed') throw new TunnelError('E_TUNNEL_CLOSED', 'the tunnel is closed');
    const { family, address, port, service = '', serviceport = null, name = '' } = meta;
    const full: ClientMeta = { family, address, port, service, serviceport, name };
    const id = addrToId(full);
    if (this.#clients.has(id)) throw new TunnelError('E_CLIENT_EXISTS', `a client ${id} is already open`);
    // Validated before anything is sent: a bad field throws its own error from the encoder, and
    // a client whose later frames (a full datalen, `resume`) would not fit is refused here.
    encodeFrameParts({ kind: 'connection', ...full });
    if (!this.#fits(full)) {
      throw new InvalidFrameError('E_HEADER_TOO_LONG', `client ${id}: its frames would not fit the 255-byte header`);
    }
    this.#tombstones.delete(id);
    const client = new MproxyClient(this, full, id);
    this.#clients.set(id, client);
    client.open();
    return client;
  }

  sendControl(message: unknown): void {
    this.sendUrgent({ kind: 'control', data: Buffer.from(JSON.stringify(message)) });
  }

  close(): void {
    if (this.#state.value === 'closed') return;
    for (const client of [...this.#clients.values()]) client.destroy();
    this.#shutdown();
  }

  destroy(error?: Error): void {
    if (this.#state.value === 'closed') return;
    this.#transport.destroy(error);
    this.#shutdown(error);
  }

  // ClientHost

  addLane(lane: Lane<ClientFrame>): void {
    this.#lanes.next(lane);
  }

  sendUrgent(frame: FrameInit): void {
    this.#urgent?.next(frame);
  }

  adjustQueued(delta: number): number {
    this.#queued += delta;
    return this.#queued;
  }

  release(client: MproxyClient): void {
    if (this.#clients.get(client.id) !== client) return;
    this.#clients.delete(client.id);
    const { bytesIn, bytesOut } = client.stats;
    this.#retiredIn += bytesIn;
    this.#retiredOut += bytesOut;
    this.#bury(client.id);
  }

  #bury(id: string): void {
    if (this.#tombstones.set(id, true).size > TOMBSTONES) this.#tombstones.delete(this.#tombstones.keys().next().value as string);
  }

  /**
   * Hands a client's frame to the client, found by id (the rules of groupByClient, over the
   * tunnel's own map: no Subject and no subscription per client). A `connection` or `data` frame
   * of an unknown id may open one (see #accept); other frames of unknown ids are dropped.
   */
  #dispatch(frame: Frame): void {
    const { kind, id } = frame;
    const client = this.#clients.get(id) ?? (kind === 'connection' || kind === 'data' ? this.#accept(frame) : undefined);
    if (!client) return;
    if (kind === 'end') client.remoteEnded();
    else if (kind === 'error') client.remoteEnded(remoteErrorOf(frame));
    else client.receive(kind, frame.data);
  }

  #accept(frame: Frame): MproxyClient | undefined {
    const id = frame.id;
    if (frame.kind === 'data') {
      if (this.#tombstones.has(id)) return undefined;
      if (this.options.unknownData === 'reject') return this.#refuse(frame, 'E_NO_CONN', 'no matching connection');
    }
    if (!this.#newClients.observed) return this.#refuse(frame, 'E_NOT_ACCEPTING', 'this side accepts no clients');
    const meta = clientMetaOf(frame);
    // Every frame we would send back carries this header with a datalen of its own: a client
    // whose replies could not be encoded must not be accepted (a write would throw later).
    if (!this.#fits(meta)) return this.#refuse(frame, 'E_HEADER_TOO_LONG', 'the client header leaves no room for replies');
    this.#tombstones.delete(id);
    const client = new MproxyClient(this, meta, id);
    this.#clients.set(id, client);
    this.#newClients.next(client);
    return client;
  }

  /** Whether the longest frame a client could send back (data or resume, a full datalen) fits. */
  #fits(meta: ClientMeta): boolean {
    try {
      return (['data', 'resume'] as const).every(
        (kind) => Buffer.byteLength(headerOf({ ...meta, kind }, this.options.maxFrameSize)) <= MAX_HEADER_BYTES,
      );
    } catch {
      return false;
    }
  }

  /**
   * Answers a frame with `error`. Only the id fields are echoed, and an answer that still cannot
   * be encoded (a hostile address near the 255-byte limit) is not sent: in the merge it would
   * fail the tunnel's one way out. The id is refused once: its further data is dropped.
   */
  #refuse({ id, family, address, port }: Frame, code: string, message: string): undefined {
    this.#bury(id);
    const refusal: FrameInit = { kind: 'error', family, address, port, data: encodeErrorBody({ message, code }) };
    try {
      encodeFrameParts(refusal);
    } catch {
      return undefined;
    }
    this.sendUrgent(refusal);
    return undefined;
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

  #shutdown(error?: Error): void {
    if (this.#state.value === 'closed') return;
    this.#state.next('closed');
    const reason = closedBy(error);
    for (const client of [...this.#clients.values()]) client.remoteEnded(reason);
    // Those still draining their last bytes are forgotten here: their counts stay.
    for (const client of [...this.#clients.values()]) this.release(client);
    if (error) {
      if (this.#transport.isOpen) this.#transport.destroy(error);
    } else {
      // The merge completes once what is queued has left, and closes the transport then.
      this.#urgent?.complete();
      this.#lanes.complete();
    }
    // A closing transport must go on reading until it has closed: it sees the remote's end (a
    // WebSocket's closing handshake, a FIN behind unread bytes) only through incoming$. What
    // still arrives meets no client and is dropped.
    if (this.#transportClosed) this.#subscription.unsubscribe();
    for (const subject of [this.#newClients, this.#control, this.#frames]) subject.complete();
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

/** What a frame costs against a lane's quantum: its body. */
function frameCost(frame: FrameInit): number {
  return frame.data?.length ?? 0;
}

/** A live view of `map` without its writing members: what `tunnel.clients` hands out. */
function readonlyView<K, V>(map: ReadonlyMap<K, V>): ReadonlyMap<K, V> {
  const view: ReadonlyMap<K, V> = {
    get size() {
      return map.size;
    },
    get: (key) => map.get(key),
    has: (key) => map.has(key),
    forEach: (callback, thisArg) => map.forEach((value, key) => callback.call(thisArg, value, key, view)),
    keys: () => map.keys(),
    values: () => map.values(),
    entries: () => map.entries(),
    [Symbol.iterator]: () => map.entries(),
  };
  return view;
}
