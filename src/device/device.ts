import { connect as tcpConnect, type NetConnectOpts } from 'node:net';
import { rootCertificates } from 'node:tls';
import {
  BehaviorSubject,
  Observable,
  defer,
  filter,
  firstValueFrom,
  retry,
  throwError,
  timer,
  type Subscription,
} from 'rxjs';
import { WebSocket } from 'ws';
import { InvalidOptionError, MproxyError } from '../codec/errors.js';
import { NO_ANSWER, answerHello, createControlChannel } from '../control/index.js';
import { checkDelay, checkKeepaliveOption, MAX_TIMER } from '../control/options.js';
import { errorPageResponse } from '../pages/error-page.js';
import { childLogger, silentLogger, type Logger } from '../logger.js';
import { connectSocket } from '../rx/connect-socket.js';
import type { Client } from '../rx/client.js';
import { resolveTunnelOptions, type TunnelOptions } from '../rx/options.js';
import { createTunnel, type Tunnel } from '../rx/tunnel.js';
import { keepAlive } from '../transport/keepalive.js';
import { fromWebSocket, type CorkableSocket } from '../transport/websocket.js';
import { backoffDelay, checkBackoffOptions, type BackoffOptions } from './backoff.js';
import { DeviceError } from './errors.js';
import { FailureLimiter } from './failure-log.js';
import { checkForwards, findForward, parseForward, type Forward } from './forwards.js';
import { bracketHint } from '../address-hint.js';
import { parseRefusal, refusalReason, TokenRefusedError } from './refusal.js';
import { addGrantPush, emptyGranted, reportForwards, type Granted } from './serving.js';
import { expiryWarningAt, readTokenClaims, type TokenClaims } from './token-claims.js';
import { forwardUdp } from './udp.js';
import { TerminatedNames } from './terminated.js';
import { encodeProxyHeader, type ProxyVersion } from '../proxy-protocol/header.js';
import type { ClientMeta } from '../codec/frame.js';
import { TunnelMetrics } from '../metrics/tunnel-metrics.js';
import { watchRoundTrip } from '../metrics/round-trip.js';
import type { TlsCertificateOptions, TlsSites } from '../tls/sites.js';

/** Where a device is in its life. */
export type DeviceState = 'connecting' | 'online' | 'offline' | 'closed';

/** How the device presents its first token to the relay. */
export type TokenTransport = 'query' | 'header' | 'control';

/** Options of {@link createDevice}. */
export interface DeviceOptions {
  /** The relay's tunnel endpoint: `ws://host:port` or `wss://…`. */
  relay: string;
  /** The token (JWT) to present; or several with `tokens`. */
  token?: string;
  /** Tokens to present: the first on connect, the others with `add_token` before `hello` is answered. */
  tokens?: readonly string[];
  /**
   * How the first token travels: `query` (`?access_token=`, default: the telebit relay takes it),
   * `header` (`Authorization: Bearer`), or `control` (`add_token` after `hello`, as the telebit
   * device does).
   */
  tokenIn?: TokenTransport;
  /** Where clients go: `Forward`s or specs like `https:app.localhost=127.0.0.1:3000`. */
  forwards: readonly (Forward | string)[];
  /** Reconnect after a drop (exponential backoff with jitter); `false` to give up instead. */
  reconnect?: BackoffOptions | false;
  /** WebSocket keepalive: ping after `interval` ms idle, drop after `timeout` ms without reply. */
  keepalive?: { interval?: number; timeout?: number } | false;
  /** Extra CA certificates to trust for `wss://` (a private relay CA). */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** Give up on one connection attempt after this many ms; 0: never. Default 10 000. */
  connectTimeout?: number;
  /** A UDP client ends after this many ms without a datagram. Default 60 000. */
  udpIdleTimeout?: number;
  /** Options of the tunnel over the relay connection. */
  tunnel?: TunnelOptions;
  /**
   * Certificates for the forwards that terminate TLS (`https:NAME=http://…` or `tcp://…`):
   * ACME, the user's own, or both. Required when such a forward exists.
   */
  tls?: TlsCertificateOptions;
  /**
   * Keep live metrics (`device.metrics`, served at `/metrics` by the admin listener): `true`, or
   * a {@link TunnelMetrics} to report to. Default: off, and nothing is counted.
   */
  metrics?: boolean | TunnelMetrics;
  /** Where the device logs (pino-compatible). Default: nowhere. */
  logger?: Logger;
}

/** A running device. */
export interface Device {
  /** `connecting`, `online`, `offline` (waiting to reconnect), `closed`. Replays. */
  readonly state$: Observable<DeviceState>;
  readonly state: DeviceState;
  /** The tunnel of the current connection, while online. */
  readonly tunnel: Tunnel | undefined;
  /** Emits once when the device stops for good: after `close()`, or a fatal error. Replays. */
  readonly closed$: Observable<{ readonly error?: Error }>;
  /** Resolves the next time the device is online; rejects if it stops first. */
  online(): Promise<void>;
  /** Stops: closes the tunnel and cancels reconnects. */
  close(): Promise<void>;
  /** The certificates of terminated names, when the device has any (see `docs/tls.md`). */
  readonly certificates: TlsSites | undefined;
  /** The device's live metrics, with the `metrics` option; what `/metrics` serves. */
  readonly metrics: TunnelMetrics | undefined;
  /** The `device` label of its metrics: its first token's subject, else its first name, else `device`. */
  readonly label: string;
  /** The forwards it serves. */
  readonly forwards: readonly Forward[];
}

/**
 * Connects to a relay and serves its clients from local services, reconnecting when dropped.
 *
 * ```ts
 * const device = createDevice({
 *   relay: 'ws://127.0.0.1:8080',
 *   token,
 *   forwards: ['https:app.localhost=127.0.0.1:3000', 'tcp:5050=127.0.0.1:22'],
 * });
 * await device.online();
 * ```
 */
export function createDevice(options: DeviceOptions): Device {
  return new MproxyDevice(options);
}

class MproxyDevice implements Device {
  readonly #options: DeviceOptions;
  readonly #forwards: readonly Forward[];
  readonly #tokens: readonly string[];
  /** The tokens' own claims, read without the secret (`undefined` for one that cannot be read). */
  readonly #claims: readonly (TokenClaims | undefined)[];
  readonly #localFailures = new FailureLimiter<Forward>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #log: Logger;
  readonly #state = new BehaviorSubject<DeviceState>('connecting');
  readonly #closed = new BehaviorSubject<{ error?: Error } | undefined>(undefined);
  readonly #subscription: Subscription;
  #tunnel: Tunnel | undefined;
  /** The relay's address as this device reaches it: the destination of PROXY headers. */
  #relayAddress: string | undefined;
  #closing = false;
  readonly #terminated: TerminatedNames | undefined;
  readonly #metrics: TunnelMetrics | undefined;
  readonly label: string;
  #connects = 0;

  constructor(options: DeviceOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    const { forwards, tokens, url } = checkDeviceConfig(options);
    this.#forwards = forwards;
    this.#tokens = tokens;
    this.#claims = this.#tokens.map(readTokenClaims);
    this.#metrics = options.metrics === true ? new TunnelMetrics() : options.metrics || undefined;
    this.label = this.#claims[0]?.subject ?? this.#claims[0]?.domains[0] ?? 'device';
    this.#terminated = this.#forwards.some((forward) => forward.terminate)
      ? new TerminatedNames(this.#forwards, options.tls ?? {}, childLogger(this.#log, { component: 'tls' }))
      : undefined;
    this.#terminated?.start();
    const reconnect = options.reconnect;
    this.#subscription = defer(() => this.#connectOnce(url))
      .pipe(
        retry({
          resetOnSuccess: true,
          delay: (error: unknown, attempt: number) => {
            if (reconnect === false || this.#closing || isFatal(error)) return throwError(() => error);
            const wait = backoffDelay(attempt, reconnect);
            this.#state.next('offline');
            // A tunnel that was open and closed is a lost connection; anything else never connected.
            const lost = error instanceof DeviceError && error.code === 'E_RELAY_CLOSED';
            this.#log.warn(
              { err: describe(error), attempt, retryInMs: wait },
              lost ? 'relay connection lost; reconnecting' : 'could not connect to the relay; retrying',
            );
            return timer(wait);
          },
        }),
      )
      .subscribe({
        error: (error: unknown) => this.#stop(error instanceof Error ? error : new Error(String(error))),
        complete: () => this.#stop(),
      });
    this.#watchExpiry();
  }

  get state$(): Observable<DeviceState> {
    return this.#state.asObservable();
  }

  get state(): DeviceState {
    return this.#state.value;
  }

  get tunnel(): Tunnel | undefined {
    return this.#tunnel;
  }

  get metrics(): TunnelMetrics | undefined {
    return this.#metrics;
  }

  get forwards(): readonly Forward[] {
    return this.#forwards;
  }

  get certificates(): TlsSites | undefined {
    return this.#terminated?.sites;
  }

  get closed$(): Observable<{ readonly error?: Error }> {
    return this.#closed.pipe(filter((closed): closed is { error?: Error } => closed !== undefined));
  }

  async online(): Promise<void> {
    const state = await firstValueFrom(this.#state.pipe(filter((s) => s === 'online' || s === 'closed')));
    if (state === 'closed') throw this.#closed.value?.error ?? new DeviceError('E_RELAY_CLOSED', 'the device was closed');
  }

  async close(): Promise<void> {
    if (this.#state.value === 'closed') return;
    this.#closing = true;
    const tunnel = this.#tunnel;
    this.#subscription.unsubscribe();
    this.#stop();
    if (tunnel) await firstValueFrom(tunnel.closed$).catch(() => undefined);
  }

  /** One connection: emits once online; errors when it ends, so that `retry` reconnects. */
  #connectOnce(url: URL): Observable<'online'> {
    return new Observable<'online'>((subscriber) => {
      const options = this.#options;
      this.#state.next('connecting');
      const tokenIn = options.tokenIn ?? 'query';
      const target = new URL(url);
      const headers: Record<string, string> = {};
      const first = this.#tokens[0] as string;
      if (tokenIn === 'query') target.searchParams.set('access_token', first);
      if (tokenIn === 'header') headers.authorization = `Bearer ${first}`;
      const ws = new WebSocket(target, {
        headers,
        handshakeTimeout: options.connectTimeout ?? 10_000,
        // Node's `ca` replaces the public roots; a private relay CA is meant to come in addition.
        ca: options.ca === undefined ? undefined : [...rootCertificates, ...[options.ca].flat()],
        perMessageDeflate: false,
        // Masking (RFC 6455 §10.3) keeps intermediaries that read cleartext HTTP from being fed
        // crafted bytes; inside TLS there are none, and a mask would only cost a copy and an XOR
        // of every byte on both ends. An all-zero mask is one ws sends and receives as is.
        generateMask: target.protocol === 'wss:' ? zeroMask : undefined,
      });
      let stopKeepAlive: (() => void) | undefined;
      let tunnel: Tunnel | undefined;
      // What the relay's `grant` pushes said on this connection; none from a relay that sends none.
      let granted: Granted | undefined;
      // Before the transport's own listener (added with the tunnel), which closes the tunnel
      // synchronously: the code must be known when closed$ fires.
      let closeCode = 0;
      let closeReason = '';
      ws.once('close', (code, reason) => {
        closeCode = code;
        closeReason = reason.toString('utf8');
      });
      // The socket under the WebSocket, for the transport to cork (one writev per turn).
      let socket: CorkableSocket | undefined;
      ws.once('upgrade', (response) => {
        socket = response.socket;
        this.#relayAddress = response.socket.remoteAddress;
      });

      ws.on('unexpected-response', (_request, response) => {
        const status = response.statusCode ?? 0;
        if (status !== 401 && status !== 403) {
          response.resume();
          ws.terminate();
          subscriber.error(
            new DeviceError(
              'E_RELAY_UNREACHABLE',
              `${url.origin} answered HTTP ${status} instead of a WebSocket upgrade: is this the relay's --tunnel port?`,
            ),
          );
          return;
        }
        // The refusal's {message, code} is in the body: read a little of it, then stop.
        const chunks: Buffer[] = [];
        let length = 0;
        const done = (): void => {
          response.removeAllListeners('data');
          ws.terminate();
          const { code, message } = parseRefusal(Buffer.concat(chunks).toString('utf8'));
          const claims = this.#claims[0];
          subscriber.error(new TokenRefusedError(code ?? 'E_AUTH_REFUSED', code || message ? refusalReason(code, message, claims) : `HTTP ${status}`));
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
          if (length > 4096) done();
        });
        response.once('end', done);
        response.once('error', done);
      });
      ws.on('error', (error) => {
        if (!tunnel) {
          subscriber.error(new DeviceError('E_RELAY_UNREACHABLE', `cannot reach the relay at ${url.origin}: ${unreachableReason(error, url)}`, { cause: error }));
        }
      });
      ws.once('open', () => {
        this.#log.info({ relay: url.origin }, 'connected to relay');
        const keepalive = options.keepalive;
        if (keepalive !== false) {
          stopKeepAlive = keepAlive(ws, { interval: keepalive?.interval ?? 15_000, timeout: keepalive?.timeout ?? 10_000 });
        }
        tunnel = createTunnel(fromWebSocket(ws, { socket }), { ...options.tunnel, unknownData: 'open' });
        this.#tunnel = tunnel;
        const session = tunnel;
        if (this.#metrics) {
          const metrics = this.#metrics;
          metrics.tunnelOpened(this.label, tunnel);
          if (this.#connects++ > 0) metrics.reconnected();
          const stopWatching = watchRoundTrip(ws, (ms) => metrics.roundTrip(this.label, ms));
          session.closed$.subscribe(() => stopWatching());
        }
        session.closed$.subscribe(({ error }) => {
          if (this.#tunnel === session) this.#tunnel = undefined;
          if (closeCode === 4401) {
            const { code, message } = parseRefusal(closeReason);
            const claims = this.#claims.find((c) => c?.expiresAt !== undefined) ?? this.#claims[0];
            subscriber.error(new TokenRefusedError(code ?? 'E_AUTH_REFUSED', refusalReason(code ?? 'E_NO_TOKEN', message, claims)));
          } else {
            const why = closeCode === 1001 ? ': the relay is shutting down' : error ? `: ${error.message}` : '';
            subscriber.error(new DeviceError('E_RELAY_CLOSED', `the relay connection closed${why}`, { cause: error }));
          }
        });
        session.clients$.subscribe((client) => this.#serve(client));
        const channel = createControlChannel(session);
        const extra = tokenIn === 'control' ? this.#tokens : this.#tokens.slice(1);
        answerHello(channel, {
          beforeAnswer: async () => {
            for (const token of extra) {
              await firstValueFrom(channel.request('add_token', token)).catch((error: unknown) => {
                // Any answer but success is a refusal (the telebit relay answers `[-n, {}]`);
                // only a channel that closed or timed out is worth a reconnect.
                const lost = error instanceof MproxyError && (error.code === 'E_CONTROL_CLOSED' || error.code === 'E_CONTROL_TIMEOUT');
                if (lost) throw error;
                const code = error instanceof MproxyError && error.code !== 'E_UNKNOWN_ERR' ? error.code : undefined;
                const message = error instanceof Error ? error.message : undefined;
                const claims = this.#claims[this.#tokens.indexOf(token)];
                throw new TokenRefusedError(code ?? 'E_AUTH_REFUSED', refusalReason(code, message, claims), { cause: error });
              });
            }
          },
        }).subscribe({
          next: () => {
            this.#reportForwards(granted, url.hostname);
            this.#state.next('online');
            subscriber.next('online');
          },
          error: (error: unknown) => subscriber.error(error),
        });
        channel.notices$.subscribe((notice) => this.#log.warn({ code: notice.code }, `relay: ${notice.message}`));
        // Pushes the telebit device never answers: answering nothing is what relays expect.
        channel.handle('grant', (args) => {
          this.#log.debug({ grants: args[0] }, 'relay granted');
          if (!granted) granted = emptyGranted();
          addGrantPush(granted, args[0]);
          return NO_ANSWER;
        });
        // A cluster node that drains: it closes this connection once its visitors are done, and
        // the device reconnects as after any drop (a device on two relays keeps the other).
        channel.handle('drain', () => {
          this.#log.info({ relay: url.origin }, 'relay is draining: this connection ends once its visitors are done');
          return NO_ANSWER;
        });
        channel.handle('access_token', () => {
          this.#log.info('relay handed over a new token');
          return NO_ANSWER;
        });
      });

      return () => {
        stopKeepAlive?.();
        if (tunnel) tunnel.close();
        else ws.terminate();
      };
    });
  }

  #serve(client: Client): void {
    const { meta } = client;
    const forward = findForward(this.#forwards, meta);
    const log = childLogger(this.#log, { client: client.id, service: meta.service, name: meta.name, port: meta.serviceport });
    this.#metrics?.clientOpened(this.label, client);
    if (!forward && this.#terminated && meta.service.toLowerCase() === 'http' && findForward(this.#forwards, { ...meta, service: 'https' })?.terminate) {
      // Plain HTTP to a name the device terminates: ACME's http-01, or a redirect to https.
      this.#terminated.servePlain(client);
      return;
    }
    if (!forward) {
      log.warn('no forward for this client');
      client.destroy(new DeviceError('E_NO_FORWARD', `no forward for ${meta.service}:${meta.name || meta.serviceport}`));
      return;
    }
    log.debug({ target: forward.target }, 'client');
    if (forward.service === 'udp') {
      forwardUdp(client, forward.target, this.#options.udpIdleTimeout ?? 60_000);
      return;
    }
    if (forward.terminate && this.#terminated) {
      this.#terminated.serveTls(client, forward, log);
      return;
    }
    // The client's bytes wait in it (bounded, see maxClientBuffer) until the local service
    // answers: a service that is down must fail the visitor cleanly, not with a reset.
    // readableHighWaterMark 0: read only on demand (see connectSocket). A stream option that
    // net.Socket passes on to its Duplex, missing from NetConnectOpts' type.
    const socket = tcpConnect({ host: forward.target.host, port: forward.target.port, allowHalfOpen: true, readableHighWaterMark: 0 } as NetConnectOpts);
    socket.setNoDelay(true);
    const failedToConnect = (error: NodeJS.ErrnoException): void => {
      socket.off('connect', connected);
      this.#localFailed(forward, error);
      refuseClient(client, forward);
    };
    // A client closed before the service answered takes its socket with it. Only until then:
    // kept for the client's life, the subscription would cost every idle visitor its memory.
    const whileConnecting = client.closed$.subscribe(() => {
      if (socket.connecting) socket.destroy();
    });
    const connected = (): void => {
      whileConnecting.unsubscribe();
      socket.off('error', failedToConnect);
      socket.on('error', this.#failureReporter(forward));
      // The header goes first, before any byte of the visitor's (which wait in the client).
      if (forward.proxy) socket.write(this.#proxyHeader(forward.proxy, meta));
      connectSocket(client, socket);
    };
    socket.once('error', failedToConnect);
    socket.once('connect', connected);
  }

  /** The PROXY header for a client: from the visitor (the `connection` frame) to the relay's address and the port the visitor reached. */
  #proxyHeader(version: ProxyVersion, meta: ClientMeta): Buffer {
    const source = meta.port === null ? undefined : { address: meta.address, port: meta.port };
    const relay = this.#relayAddress;
    const destination = relay === undefined || meta.serviceport === null ? undefined : { address: relay, port: meta.serviceport };
    return encodeProxyHeader(version, source, destination);
  }

  /**
   * The error listener a connected local socket keeps: made apart from #serve so that it holds
   * the forward alone, not the closures #serve needed until the socket connected.
   */
  #failureReporter(forward: Forward): (error: NodeJS.ErrnoException) => void {
    return (error) => this.#localFailed(forward, error);
  }

  /** A local service failed: one warning per forward per burst, with the target and the system code. */
  #localFailed(forward: Forward, error: NodeJS.ErrnoException): void {
    const note = this.#localFailures.failed(forward);
    if (!note) return;
    const target = `${forward.target.host}:${forward.target.port}`;
    const what = forward.name ?? `port ${forward.port}`;
    this.#log.warn(
      { target, code: error.code ?? 'E_LOCAL_SERVICE', ...(note.suppressed > 0 ? { suppressed: note.suppressed } : {}) },
      `local service ${target} for ${forward.service} ${what} failed: ${error.message}` +
        (note.suppressed > 0 ? ` (${note.suppressed} more failures since the last warning)` : ''),
    );
  }

  /** Says, once connected, what each forward serves, and why a forward gets no visitors. */
  #reportForwards(granted: Granted | undefined, relayHost: string): void {
    const claims = this.#claims.filter((c): c is TokenClaims => c !== undefined);
    for (const report of reportForwards(this.#forwards, granted, claims, relayHost)) {
      if (report.served) this.#log.info(report.line);
      else this.#log.warn({ code: report.code }, report.line);
    }
  }

  /** Warns before each token expires (a tenth of its life ahead, at most a day), and when it does. */
  #watchExpiry(): void {
    for (const claims of this.#claims) {
      const expiresAt = claims?.expiresAt;
      // One already expired is the relay's to refuse: that refusal is the one line about it.
      if (!expiresAt || expiresAt.getTime() <= Date.now()) continue;
      const warnAt = expiryWarningAt(claims, new Date());
      const at = expiresAt.toISOString();
      if (warnAt && warnAt.getTime() < expiresAt.getTime()) {
        this.#at(warnAt, () => this.#log.warn({ expiresAt: at }, `the token expires at ${at}: give the device a new one before then`));
      }
      this.#at(expiresAt, () =>
        this.#log.warn({ expiresAt: at, code: 'E_TOKEN_EXPIRED' }, `the token expired at ${at}: the relay no longer routes its names and ports`),
      );
    }
  }

  /** Runs `fn` at `when` (at once if past), in steps a timer can wait; unref'd, cancelled by `#stop`. */
  #at(when: Date, fn: () => void): void {
    const wait = when.getTime() - Date.now();
    const handle = setTimeout(
      () => {
        this.#timers.delete(handle);
        if (this.#state.value === 'closed') return;
        if (wait > MAX_TIMER) this.#at(when, fn);
        else fn();
      },
      Math.min(Math.max(0, wait), MAX_TIMER),
    );
    handle.unref();
    this.#timers.add(handle);
  }

  #stop(error?: Error): void {
    if (this.#state.value === 'closed') return;
    this.#closing = true;
    for (const handle of this.#timers) clearTimeout(handle);
    this.#timers.clear();
    this.#terminated?.close();
    // The error goes to closed$: whoever runs the device says it (the CLI in one line).
    if (error) this.#log.debug({ err: describe(error) }, 'device stopped');
    this.#tunnel?.close();
    this.#tunnel = undefined;
    this.#closed.next(error ? { error } : {});
    this.#state.next('closed');
  }
}

/**
 * Checks a whole device configuration as `createDevice` takes it, without connecting or reading
 * anything, and returns its forwards parsed, its tokens and the relay's URL. (`mproxy device
 * --print-config` runs it, so that a value that would stop the device stops it there.) The
 * options used at each connection are checked too: a bad one must stop `createDevice`, not fail
 * every attempt.
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 * @throws {DeviceError} `E_NO_TOKEN` without a token.
 */
export function checkDeviceConfig(options: DeviceOptions): { forwards: Forward[]; tokens: readonly string[]; url: URL } {
  const forwards = options.forwards.map((forward) => (typeof forward === 'string' ? parseForward(forward) : forward));
  checkForwards(forwards);
  const tokens = options.tokens ?? (options.token ? [options.token] : []);
  if (tokens.length === 0) throw new DeviceError('E_NO_TOKEN', 'a device needs at least one token');
  let url: URL;
  try {
    url = new URL(options.relay);
  } catch {
    throw new InvalidOptionError(`relay ${JSON.stringify(options.relay)} is not a URL such as wss://relay.example.com:8443${bracketHint(options.relay)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new InvalidOptionError(`relay ${JSON.stringify(options.relay)} must be a ws:// or wss:// URL`);
  }
  checkDelay('connectTimeout', options.connectTimeout, 'no timeout');
  checkDelay('udpIdleTimeout', options.udpIdleTimeout);
  checkKeepaliveOption(options.keepalive);
  if (options.reconnect) checkBackoffOptions(options.reconnect);
  resolveTunnelOptions(options.tunnel);
  return { forwards, tokens, url };
}

function isFatal(error: unknown): boolean {
  return error instanceof TokenRefusedError || (error instanceof DeviceError && error.code === 'E_NO_TOKEN');
}

/**
 * A client whose local service could not be reached: an HTTP visitor gets a 502 page naming
 * the name (never the local address); TLS and TCP visitors a clean close.
 */
function refuseClient(client: Client, forward: Forward): void {
  // What the visitor sent is not wanted: read and dropped, so that nothing waits on it.
  client.data$.subscribe({ error: () => undefined });
  if (forward.service === 'http' && !client.closed) {
    const name = client.meta.name || forward.name || 'This name';
    client.write(Buffer.from(errorPageResponse('502 Bad Gateway', `The service behind ${name} is not answering.`)));
  }
  if (!client.closed) client.end();
}

/** OpenSSL's words for the two TLS mistakes a user makes, in theirs. */
function unreachableReason(error: Error & { code?: string }, url: URL): string {
  if (url.protocol === 'wss:' && /wrong version number|packet length too long/.test(error.message)) {
    return 'it does not speak TLS on that port (a ws:// endpoint?)';
  }
  if (typeof error.code === 'string' && UNTRUSTED.has(error.code)) {
    return `its certificate is not trusted (${error.code}): give the CA that signed it (--ca, or the \`ca\` option)`;
  }
  return error.message;
}

const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

function describe(error: unknown): string {
  if (error instanceof MproxyError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** ws's mask generator for a connection inside TLS: see #connectOnce. */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
