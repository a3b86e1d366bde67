/**
 * Minimal telebit-style peers for interop tests, written the way the telebit relay and device
 * are: plain `ws` plus the real `proxy-packer` (`Packer.create({...handlers})` to decode,
 * `Packer.packHeader(meta, data, service)` to encode, the header and the body sent as two
 * WebSocket messages). See /work/shared/spec/telebit-notes.md for what they do.
 *
 * - {@link TelebitDevice}: connects (with or without a token), waits for `hello`, sends
 *   `add_token` before answering `[-1, null]`, never answers `grant`/`access_token`, and pipes
 *   each client to a local TCP service.
 * - {@link TelebitRelay}: a `WebSocketServer` that checks `?access_token=`, sends `grant` (id 2)
 *   before `hello` (id 1), and lets the test play the visitors through {@link RelayPeer}.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { jwtVerify } from 'jose';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** The address fields proxy-packer reads and writes (ports may be strings on the way in). */
export interface PackerAddr {
  family: string;
  address: string;
  port: string | number;
  service?: string;
  serviceport?: string | number;
  name?: string;
}

/** What proxy-packer hands its handlers. */
export interface PackerMsg extends PackerAddr {
  data?: Buffer;
  /** `error` frames: the parsed JSON body. */
  message?: string;
  code?: string;
}

interface PackerMachine {
  fns: { addChunk(chunk: Buffer): void };
}

interface ProxyPacker {
  create(handlers: Record<string, (msg: PackerMsg) => void>): PackerMachine;
  packHeader(meta: PackerAddr | null, data: unknown, service?: string, andBody?: boolean, oldways?: boolean): Buffer;
  pack(meta: PackerAddr, data: unknown, service?: string): Buffer;
  addrToId(addr: PackerAddr): string;
}

export const Packer = createRequire(import.meta.url)('proxy-packer') as ProxyPacker;

/** How a peer puts frames on the WebSocket. */
export type WireMode =
  /** Telebit's way: each frame's header, then its body, as two messages. */
  | 'split'
  /** Every frame sent in one tick joined into one message (several frames per message). */
  | 'batch';

/** Something a peer received (or, for `local-*`, something that happened on its side). */
export type WireEvent =
  | { readonly type: 'control'; readonly body: unknown }
  | {
      readonly type: 'connection' | 'data' | 'end' | 'error' | 'pause' | 'resume' | 'local-closed' | 'unknown-data';
      readonly id: string;
      readonly msg: PackerMsg;
    };

const WAIT_MS = 8_000;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * One side of an M-PROXY WebSocket, the telebit way: decodes with proxy-packer, records what
 * arrives, sends with packHeader, and does request/response on the control channel.
 */
export class Wire {
  readonly events: WireEvent[] = [];
  /** Control bodies this side sent, in order. */
  readonly sentControl: unknown[] = [];
  readonly ws: WebSocket;
  readonly mode: WireMode;
  readonly #emitter = new EventEmitter();
  readonly #pending = new Map<number, (answer: unknown[]) => void>();
  readonly #machine: PackerMachine;
  #nextId: number;
  #batch: Buffer[] = [];
  #batchScheduled = false;
  /** Requests from the remote (`[id > 0, command, ...]`). */
  onRequest: (body: unknown[]) => void = () => undefined;
  onConnection: (id: string, msg: PackerMsg) => void = () => undefined;
  onData: (id: string, msg: PackerMsg) => void = () => undefined;
  onEnd: (id: string, msg: PackerMsg) => void = () => undefined;
  onError: (id: string, msg: PackerMsg) => void = () => undefined;
  onPause: (id: string, msg: PackerMsg) => void = () => undefined;
  onResume: (id: string, msg: PackerMsg) => void = () => undefined;

  constructor(ws: WebSocket, mode: WireMode, firstRequestId: number) {
    this.ws = ws;
    this.mode = mode;
    this.#nextId = firstRequestId;
    this.#emitter.setMaxListeners(0);
    const frame =
      (type: 'connection' | 'data' | 'end' | 'error' | 'pause' | 'resume', handler: () => (id: string, msg: PackerMsg) => void) =>
      (msg: PackerMsg): void => {
        const id = Packer.addrToId(msg);
        this.record({ type, id, msg });
        handler()(id, msg);
      };
    this.#machine = Packer.create({
      oncontrol: (msg) => this.#control(msg),
      onconnection: frame('connection', () => this.onConnection),
      onmessage: frame('data', () => this.onData),
      onend: frame('end', () => this.onEnd),
      onerror: frame('error', () => this.onError),
      onpause: frame('pause', () => this.onPause),
      onresume: frame('resume', () => this.onResume),
    });
    ws.on('message', (data) => this.#machine.fns.addChunk(toBuffer(data)));
  }

  /** Sends one frame: `packHeader(meta, data, service)`, then the body. */
  send(meta: PackerAddr | null, data: Buffer | string | null, service?: string): void {
    const body = data === null ? null : Buffer.from(data);
    // packHeader writes the service into `meta`: give it a copy, or every later frame of this
    // client would carry it (a trap the telebit code falls into).
    const header = Packer.packHeader(meta ? { ...meta } : null, body, service);
    this.#write(header);
    if (body && body.length > 0) this.#write(body);
  }

  /** Sends a control body (JSON). */
  sendControl(body: unknown): void {
    this.sentControl.push(body);
    this.send(null, JSON.stringify(body), 'control');
  }

  /** Sends `[id, command, ...args]`; resolves with the whole answer `[-id, error, result?]`. */
  request(command: string, ...args: unknown[]): Promise<unknown[]> {
    const id = this.#nextId++;
    const answer = new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${command} (id ${id})`));
      }, WAIT_MS);
      this.#pending.set(id, (body) => {
        clearTimeout(timer);
        resolve(body);
      });
    });
    this.sendControl([id, command, ...args]);
    return answer;
  }

  record(event: WireEvent): void {
    this.events.push(event);
    this.#emitter.emit('event', event);
  }

  /** Resolves with the first event (already recorded or to come) that matches. */
  waitFor(match: (event: WireEvent) => boolean, what: string): Promise<WireEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onEvent = (event: WireEvent): void => {
        if (!match(event)) return;
        done();
        resolve(event);
      };
      const onClose = (): void => {
        done();
        reject(new Error(`WebSocket closed while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
      const done = (): void => {
        clearTimeout(timer);
        this.#emitter.off('event', onEvent);
        this.ws.off('close', onClose);
      };
      this.#emitter.on('event', onEvent);
      this.ws.once('close', onClose);
    });
  }

  /** Waits for a frame of one kind for one client id. */
  waitForFrame(type: WireEvent['type'], id: string): Promise<Extract<WireEvent, { id: string }>> {
    return this.waitFor((e) => e.type === type && 'id' in e && e.id === id, `${type} for ${id}`) as Promise<
      Extract<WireEvent, { id: string }>
    >;
  }

  /** Waits for a control request `[id > 0, command, ...]` from the remote. */
  async waitForRequest(command: string): Promise<unknown[]> {
    const event = await this.waitFor(
      (e) => e.type === 'control' && Array.isArray(e.body) && (e.body[0] as number) > 0 && e.body[1] === command,
      `control request ${command}`,
    );
    return (event as { body: unknown[] }).body;
  }

  /** The control bodies received, in order. */
  get controls(): unknown[] {
    return this.events.flatMap((e) => (e.type === 'control' ? [e.body] : []));
  }

  /** The bytes of every data frame received for a client. */
  dataOf(id: string): Buffer {
    return Buffer.concat(this.events.flatMap((e) => (e.type === 'data' && e.id === id && e.msg.data ? [e.msg.data] : [])));
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  #write(chunk: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.mode === 'split') {
      this.ws.send(chunk, { binary: true });
      return;
    }
    this.#batch.push(chunk);
    if (this.#batchScheduled) return;
    this.#batchScheduled = true;
    setImmediate(() => {
      this.#batchScheduled = false;
      const joined = Buffer.concat(this.#batch);
      this.#batch = [];
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(joined, { binary: true });
    });
  }

  #control(msg: PackerMsg): void {
    let body: unknown;
    try {
      body = JSON.parse((msg.data ?? Buffer.alloc(0)).toString());
    } catch {
      body = undefined;
    }
    this.record({ type: 'control', body });
    if (!Array.isArray(body) || typeof body[0] !== 'number') return;
    const id = body[0];
    if (id < 0) {
      const settle = this.#pending.get(-id);
      this.#pending.delete(-id);
      settle?.(body);
    } else if (id > 0) {
      this.onRequest(body);
    }
  }
}

function closedPromise(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

// ---------------------------------------------------------------------------------------------
// Device

/** Options of {@link TelebitDevice.connect}. */
export interface TelebitDeviceOptions {
  /** The relay's WebSocket URL (a query such as `?access_token=` may be added by the caller). */
  url: string;
  /** Sent with `add_token` on `hello`, before the `hello` is answered. None: nothing is added. */
  token?: string;
  /** Extra request headers (e.g. `Authorization: Basic …`). */
  headers?: Record<string, string>;
  mode?: WireMode;
  /** Where a client goes; `undefined` answers it with an empty `error` frame (as telebit does). */
  route?: (msg: PackerMsg) => { host: string; port: number } | undefined;
}

/** The relay answered the upgrade with HTTP instead of a WebSocket. */
export class UpgradeRefused extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(`upgrade refused with HTTP ${statusCode}: ${body}`);
  }
}

/** A telebit-style device. */
export class TelebitDevice {
  readonly wire: Wire;
  /** Resolves with the relay's answer to the `add_token` sent on `hello` (if a token was given). */
  readonly tokenAnswer: Promise<unknown[]>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Local sockets by client id. */
  readonly sockets = new Map<string, Socket>();
  readonly #options: TelebitDeviceOptions;

  private constructor(ws: WebSocket, options: TelebitDeviceOptions) {
    this.#options = options;
    this.wire = new Wire(ws, options.mode ?? 'split', 1);
    this.closed = closedPromise(ws);
    let answerToken: (answer: unknown[]) => void = () => undefined;
    this.tokenAnswer = new Promise((resolve) => (answerToken = resolve));
    const wire = this.wire;
    wire.onRequest = (body) => {
      const [id, command] = body as [number, string];
      if (command === 'hello') {
        // telebit: sendAllTokens() first, then the ack of the hello.
        if (options.token !== undefined) void wire.request('add_token', options.token).then(answerToken, () => undefined);
        wire.sendControl([-id, null]);
        return;
      }
      // grant and access_token: the telebit device never answers them.
      if (command === 'grant' || command === 'access_token') return;
      wire.sendControl([-id, { message: `unknown command "${command}"`, code: 'E_UNKNOWN_COMMAND' }]);
    };
    wire.onConnection = (id, msg) => this.#open(id, msg);
    wire.onData = (id, msg) => {
      const socket = this.sockets.get(id);
      if (!socket) {
        wire.record({ type: 'unknown-data', id, msg });
        return;
      }
      if (msg.data) socket.write(msg.data);
    };
    wire.onEnd = (id) => this.sockets.get(id)?.end();
    wire.onError = (id) => this.sockets.get(id)?.destroy();
    wire.onPause = (id) => this.sockets.get(id)?.pause();
    wire.onResume = (id) => this.sockets.get(id)?.resume();
  }

  /** Opens the WebSocket; rejects with {@link UpgradeRefused} if the relay answers HTTP. */
  static connect(options: TelebitDeviceOptions): Promise<TelebitDevice> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(options.url, { headers: options.headers, perMessageDeflate: false });
      // Made at once, so that nothing the relay sends right after the upgrade is missed.
      const device = new TelebitDevice(ws, options);
      ws.once('open', () => resolve(device));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          ws.terminate();
          reject(new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString()));
        });
      });
      ws.once('error', reject);
    });
  }

  /** Sends a data frame for a client (known or not). */
  sendData(addr: PackerAddr, data: Buffer | string): void {
    this.wire.send(addr, data);
  }

  close(): Promise<void> {
    for (const socket of this.sockets.values()) socket.destroy();
    const ws = this.wire.ws;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    ws.terminate();
    return this.closed.then(() => undefined);
  }

  #open(id: string, msg: PackerMsg): void {
    const wire = this.wire;
    // What the connection frame told: its data frames say the same.
    const addr: PackerAddr = {
      family: msg.family,
      address: msg.address,
      port: msg.port,
      service: msg.service,
      serviceport: msg.serviceport,
      name: msg.name,
    };
    const target = this.#options.route?.(msg);
    if (!target) {
      // As telebit's _onConnectError: an `error` frame with no body at all.
      wire.send(addr, null, 'error');
      return;
    }
    const socket = netConnect(target.port, target.host);
    this.sockets.set(id, socket);
    socket.on('data', (chunk: Buffer) => wire.send(addr, chunk));
    socket.on('end', () => wire.send(addr, null, 'end'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      wire.send(addr, JSON.stringify({ message: error.message, code: error.code ?? 'E_UNKNOWN' }), 'error');
    });
    socket.on('close', () => {
      if (this.sockets.get(id) === socket) this.sockets.delete(id);
      wire.record({ type: 'local-closed', id, msg });
    });
    if (msg.data) socket.write(msg.data);
  }
}

// ---------------------------------------------------------------------------------------------
// Relay

/** Options of {@link TelebitRelay.start}. */
export interface TelebitRelayOptions {
  /** The HMAC secret tokens are signed with. */
  secret: string;
  /** `list`: `[1, "hello", [1], [...]]` (telebit today); `byte`: `[1, "hello", 254, [...]]` (README). */
  hello?: 'list' | 'byte';
  mode?: WireMode;
}

/** A device as the telebit-style relay sees it; the test plays its visitors. */
export class RelayPeer {
  readonly wire: Wire;
  /** The device's answer to `hello`. */
  readonly helloAnswer: Promise<unknown[]>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Domains of the token given on connect (empty if none). */
  readonly domains: string[] = [];
  readonly #secret: string;

  constructor(ws: WebSocket, options: TelebitRelayOptions) {
    // Ids 1 (hello) and 2 (grant) are fixed, as telebit's; the test's own requests start at 10.
    this.wire = new Wire(ws, options.mode ?? 'split', 10);
    this.#secret = options.secret;
    this.closed = closedPromise(ws);
    this.helloAnswer = this.wire
      .waitFor((e) => e.type === 'control' && Array.isArray(e.body) && e.body[0] === -1, 'the answer to hello')
      .then((e) => (e as { body: unknown[] }).body);
    this.helloAnswer.catch(() => undefined);
    this.wire.onRequest = (body) => void this.#request(body);
  }

  /** Sends `grant` (if a token came with the connect) and then `hello`. */
  greet(hello: 'list' | 'byte'): void {
    if (this.domains.length > 0) {
      const grants = this.domains.flatMap((domain) => [
        ['ssh+https', domain, 443],
        ['ssh', domain, [22]],
        ['https', domain],
      ]);
      this.wire.sendControl([2, 'grant', grants]);
    }
    this.wire.sendControl(
      hello === 'list' ? [1, 'hello', [1], ['add_token', 'delete_token', 'auth', 'authn', 'authz']] : [1, 'hello', 254, ['add_token', 'delete_token']],
    );
  }

  /** A visitor arrives: `connection` (header only, like telebit). */
  openClient(addr: PackerAddr): void {
    this.wire.send(addr, null, 'connection');
  }

  write(addr: PackerAddr, data: Buffer | string): void {
    this.wire.send(addr, data);
  }

  end(addr: PackerAddr): void {
    this.wire.send(addr, null, 'end');
  }

  pause(addr: PackerAddr): void {
    this.wire.send(addr, null, 'pause');
  }

  resume(addr: PackerAddr): void {
    this.wire.send(addr, null, 'resume');
  }

  /**
   * A request the device does not know: its answer proves that the device has handled every
   * frame sent before it (frames are handled in order).
   */
  barrier(): Promise<unknown[]> {
    return this.wire.request('telebit_ping');
  }

  async #request(body: unknown[]): Promise<void> {
    const [id, command, arg] = body as [number, string, unknown];
    if (command === 'add_token') {
      const ok = typeof arg === 'string' && (await this.#verify(arg)) !== undefined;
      // telebit: a bad add_token gets an empty error object, and the socket stays open.
      this.wire.sendControl(ok ? [-id, null] : [-id, {}]);
      return;
    }
    this.wire.sendControl([-id, { message: `unknown command "${command}"`, code: 'E_UNKNOWN_COMMAND' }]);
  }

  async #verify(token: string): Promise<string[] | undefined> {
    try {
      const { payload } = await jwtVerify(token, new TextEncoder().encode(this.#secret), { algorithms: ['HS256'] });
      return Array.isArray(payload.domains) ? (payload.domains as string[]) : [];
    } catch {
      return undefined;
    }
  }

  /** @internal */
  async accept(req: IncomingMessage, hello: 'list' | 'byte'): Promise<void> {
    const token = new URL(req.url ?? '/', 'http://relay.invalid').searchParams.get('access_token');
    if (token !== null) {
      const domains = await this.#verify(token);
      if (!domains) {
        // telebit: a bad token on connect gets `[0, {}]` and a close.
        this.wire.sendControl([0, {}]);
        this.wire.ws.close(1008, 'bad token');
        return;
      }
      this.domains.push(...domains);
    }
    this.greet(hello);
  }
}

/** A telebit-style relay: a bare `WebSocketServer` on 127.0.0.1. */
export class TelebitRelay {
  readonly server: WebSocketServer;
  readonly peers: RelayPeer[] = [];
  readonly #waiting: ((peer: RelayPeer) => void)[] = [];
  readonly #unclaimed: RelayPeer[] = [];

  private constructor(server: WebSocketServer, options: TelebitRelayOptions) {
    this.server = server;
    server.on('connection', (ws, req) => {
      const peer = new RelayPeer(ws, options);
      this.peers.push(peer);
      void peer.accept(req, options.hello ?? 'list');
      const waiter = this.#waiting.shift();
      if (waiter) waiter(peer);
      else this.#unclaimed.push(peer);
    });
  }

  static start(options: TelebitRelayOptions): Promise<TelebitRelay> {
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
      server.once('error', reject);
      server.once('listening', () => resolve(new TelebitRelay(server, options)));
    });
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `ws://127.0.0.1:${port}/`;
  }

  /** The next device to connect (or the first one not yet taken). */
  nextDevice(): Promise<RelayPeer> {
    const ready = this.#unclaimed.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no device connected')), WAIT_MS);
      this.#waiting.push((peer) => {
        clearTimeout(timer);
        resolve(peer);
      });
    });
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
