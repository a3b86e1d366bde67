import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { grantedPorts, PortPolicy } from '../auth/policy.js';
import { GrantRegistry, type ExpiredGrant } from '../auth/registry.js';
import { tokenFromRequest } from '../auth/credentials.js';
import { verifyToken, type Grant } from '../auth/token.js';
import { InvalidOptionError } from '../codec/errors.js';
import { MAX_TIMER } from '../control/options.js';
import { toControlErrorBody } from '../control/channel.js';
import { childLogger, silentLogger, type Logger } from '../logger.js';
import type { Client } from '../rx/client.js';
import { connectSocket } from '../rx/connect-socket.js';
import type { OpenClientMeta } from '../rx/tunnel.js';
import type { TunnelStats } from '../rx/stats.js';
import { joinHostPort } from '../transport/host-port.js';
import { TunnelMetrics } from '../metrics/tunnel-metrics.js';
import { watchRoundTrip } from '../metrics/round-trip.js';
import { AuthError } from '../auth/errors.js';
import { DeviceSession } from './session.js';
import { ListenError, RelayError } from './errors.js';
import { matchesName } from '../auth/names.js';
import { checkRelayConfig, parseListen, type ListenAddress, type RelayOptions } from './options.js';
import { unroutedAnswer } from './pages.js';
import { PortListeners } from './ports.js';
import { DEFAULT_SNIFF_MAX_BYTES } from '../sniff/options.js';
import { UdpPort } from './udp.js';
import { sniffVisitor } from './visitor.js';
import { AcmeCertificates } from '../tls/acme.js';
import { TlsError } from '../tls/errors.js';
import { normalizeName } from '../auth/names.js';
import { readClientHello } from '../sniff/client-hello.js';
import { ACME_TLS_ALPN, terminate } from '../tls/terminate.js';
import { looksLikeProxyHeader } from '../proxy-protocol/decode.js';
import { ProxyProtocolError } from '../proxy-protocol/errors.js';
import { readProxyHeader } from '../proxy-protocol/read.js';
import { TrustedSources } from '../proxy-protocol/sources.js';

/** Who a visitor is, as the device hears it in the `connection` frame. */
type VisitorAddress = Pick<OpenClientMeta, 'family' | 'address' | 'port'>;

/** A connected device, as the admin API lists it. */
export interface RelayDeviceInfo {
  readonly id: string;
  /** The `device` label of its metrics: its token's subject, else its first name, else `id`. */
  readonly label: string;
  /** Where it connected from, `host:port`. */
  readonly address: string;
  readonly connectedAt: string;
  readonly names: readonly string[];
  readonly ports: { readonly tcp: readonly number[]; readonly udp: readonly number[] };
  /** Its tokens, by `jti` (null for a token without one), subject and expiry. */
  readonly tokens: readonly { readonly jti: string | null; readonly subject: string | null; readonly expiresAt: string | null }[];
  readonly stats: TunnelStats;
  readonly clients: readonly RelayClientInfo[];
}

/** A visitor's client on a device, as the admin API lists it. */
export interface RelayClientInfo {
  readonly id: string;
  readonly visitor: { readonly address: string; readonly port: number | null };
  readonly service: string;
  readonly name: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ageMs: number;
}

/** A client as the admin API lists it (the relay's visitors, the device's clients), at `now`. */
export function clientInfo(client: Client, now: number): RelayClientInfo {
  const { meta } = client;
  const stats = client.stats;
  return {
    id: client.id,
    visitor: { address: meta.address, port: meta.port },
    service: meta.service,
    name: meta.name,
    bytesIn: stats.bytesIn,
    bytesOut: stats.bytesOut,
    ageMs: now - stats.openedAt,
  };
}
import { ClusterNode, ownerOf, type ClusterRoute } from '../cluster/node.js';
import { resolveClusterOptions } from '../cluster/options.js';
import { openUnique } from '../cluster/unique.js';
import { pull } from '../rx/pull.js';
import { fromClient } from '../rx/from-client.js';
import { toClient } from '../rx/to-client.js';

/** The addresses a relay listens on. */
export interface RelayAddresses {
  /** Visitors (TLS by SNI, HTTP by Host): the first `listen` address. */
  readonly public: AddressInfo;
  /** Every visitor address, in the order of `listen`. */
  readonly visitors: readonly AddressInfo[];
  /** Devices (WebSocket). */
  readonly tunnel: AddressInfo;
}

/** A running relay. */
export interface Relay {
  readonly addresses: RelayAddresses;
  /** The device endpoint's URL, e.g. `ws://127.0.0.1:8080`. */
  readonly tunnelUrl: string;
  /** TCP and UDP ports claimed by devices and listening now. */
  readonly ports: { readonly tcp: readonly number[]; readonly udp: readonly number[] };
  /** How many devices are connected. */
  readonly deviceCount: number;
  /** How many clients (visitors) are open on the tunnels of all connected devices. */
  readonly clientCount: number;
  /** The certificate manager of the device endpoint's name, with `tunnelAcme`. */
  readonly certificates: AcmeCertificates | undefined;
  /** The relay's live metrics, with the `metrics` option; what `/metrics` serves. */
  readonly metrics: TunnelMetrics | undefined;
  /** The devices connected now, with their names, ports and clients (the admin API's `/api/devices`). */
  devices(): RelayDeviceInfo[];
  /** Closes the tunnel of device `id`; false if there is no such device. */
  disconnectDevice(id: string): boolean;
  /**
   * Refuses the token with this `jti` from now on (on connect and `add_token`), and drops the
   * devices that hold it. Returns the ids of the devices dropped.
   */
  revokeToken(jti: string): string[];
  /** Stops listening, drops every device and visitor. */
  close(): Promise<void>;
  /**
   * Graceful stop: closes the listeners (a load balancer moves on), hands the cluster leases
   * over, tells the devices to move, lets open visitors finish for up to `timeout` ms (default:
   * the cluster's `drainTimeout`, else 30 000), then closes.
   */
  drain(timeout?: number): Promise<void>;
}

/**
 * Starts a relay: a public listener that routes each visitor by SNI or Host (or by port, for
 * ports that devices claimed) to the device that holds the name, and a WebSocket endpoint for
 * devices. Resolves once every listener is listening.
 */
export async function createRelay(options: RelayOptions): Promise<Relay> {
  const relay = new MproxyRelay(options);
  await relay.listen();
  return relay;
}

const DEFAULT_PUBLIC = { host: '127.0.0.1', port: 8443 };
/** How many names of devices that left are remembered, for the 502 page's wording. */
const MAX_GONE_NAMES = 1024;
const DEFAULT_TUNNEL = { host: '127.0.0.1', port: 8080 };

class MproxyRelay implements Relay {
  readonly #options: RelayOptions;
  readonly #log: Logger;
  readonly #secret: string | Uint8Array;
  readonly #policy: PortPolicy;
  // Expired tokens lose their names and ports on time, not only at the next lookup (telebit
  // never expired them at all).
  readonly #registry: GrantRegistry;
  #expiryTimer: NodeJS.Timeout | undefined;
  #reconcileQueued = false;
  readonly #sessions = new Map<string, DeviceSession>();
  readonly #publicServers: TcpServer[];
  /** Names whose devices left, most recent last: their visitors hear "not connected now". */
  readonly #goneNames = new Set<string>();
  readonly #tunnelServer: HttpServer;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly #tcpPorts: PortListeners<TcpServer>;
  readonly #udpPorts: PortListeners<UdpPort>;
  readonly #visitors = new Set<Socket>();
  /** The relay's own name's certificate, with `tunnelAcme`. */
  readonly #acme: { readonly name: string; readonly certificates: AcmeCertificates } | undefined;
  readonly #roundRobin = new Map<string, number>();
  /** Sources whose connections start with a PROXY header (`acceptProxyProtocol`). */
  readonly #trusted: TrustedSources | undefined;
  readonly #metrics: TunnelMetrics | undefined;
  /** Token ids revoked through the admin API. */
  readonly #revoked = new Set<string>();
  /** The `device` label of each session's metrics. */
  readonly #labels = new Map<string, string>();
  #nextSession = 1;
  #closed = false;
  #draining = false;
  /** This relay's membership in a cluster, with `cluster`. */
  readonly #cluster: ClusterNode | undefined;
  readonly #drainTimeout: number;
  #addresses: RelayAddresses | undefined;

  constructor(options: RelayOptions) {
    checkRelayConfig(options);
    this.#options = options;
    this.#trusted = options.acceptProxyProtocol === undefined ? undefined : new TrustedSources(options.acceptProxyProtocol);
    this.#metrics = options.metrics === true ? new TunnelMetrics() : options.metrics || undefined;
    this.#registry = new GrantRegistry({ onExpire: (expired) => this.#expired(expired), exclusive: options.cluster === undefined });
    this.#secret = options.secret;
    this.#log = options.logger ?? silentLogger;
    this.#policy = new PortPolicy({ tcpPorts: options.tcpPorts, udpPorts: options.udpPorts });
    this.#tcpPorts = new PortListeners<TcpServer>(
      'TCP',
      async (port) => {
        const server = createTcpServer({ pauseOnConnect: true, allowHalfOpen: true, highWaterMark: 0 }, (socket) => void this.#visitPort(port, socket));
        await listenOn(server, { host: this.#portHost(), port }, this.#log);
        return server;
      },
      (server) => server.close(),
      this.#log,
      (port, error) => this.#portUnavailable('tcp', port, error),
    );
    this.#udpPorts = new PortListeners<UdpPort>(
      'UDP',
      (port) => UdpPort.bind(this.#portHost(), port, (meta) => this.#openUdp(port, meta), options.udpIdleTimeout ?? 60_000),
      (udp) => udp.close(),
      this.#log,
      (port, error) => this.#portUnavailable('udp', port, error),
    );
    const listens = Array.isArray(options.listen) ? options.listen : [options.listen];
    this.#publicServers = listens.map(() =>
      createTcpServer({ pauseOnConnect: true, allowHalfOpen: true, highWaterMark: 0 }, (socket) => void this.#visit(socket)),
    );
    if (options.tunnelAcme) {
      const name = normalizeName(String(options.tunnelAcme.name ?? ''));
      this.#acme = { name, certificates: new AcmeCertificates([name], { ...options.tunnelAcme, challenges: ['tls-alpn-01'] }, childLogger(this.#log, { component: 'acme' })) };
    }
    this.#tunnelServer = this.#acme ? createHttpsServer({ SNICallback: (servername, callback) => this.#ownName(servername, callback) }) : options.tunnelTls ? createHttpsServer(options.tunnelTls) : createHttpServer();
    this.#tunnelServer.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: 'this is an M-PROXY tunnel endpoint: connect with a WebSocket', code: 'E_UPGRADE_REQUIRED' }));
    });
    this.#tunnelServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(req, socket, head));
    const cluster = options.cluster ? resolveClusterOptions(options.cluster) : undefined;
    if (cluster?.nodeTls === true && !options.tunnelTls) throw new InvalidOptionError('cluster nodeTls: true takes the key and certificate of tunnelTls; give them, or give nodeTls {key, cert}');
    this.#drainTimeout = cluster?.drainTimeout ?? 30_000;
    this.#cluster = cluster
      ? new ClusterNode({
          ...cluster,
          secret: options.secret,
          tls: options.tunnelTls,
          onClient: (client, from) => this.#serveForwarded(client, from),
          tunnelOptions: options.tunnelOptions,
          log: childLogger(this.#log, { component: 'cluster', node: cluster.nodeId }),
        })
      : undefined;
  }

  get addresses(): RelayAddresses {
    if (!this.#addresses) throw new RelayError('E_RELAY_CLOSED', 'the relay is not listening');
    return this.#addresses;
  }

  get tunnelUrl(): string {
    if (this.#acme) return `wss://${this.#acme.name}:${this.addresses.tunnel.port}`;
    return `${this.#options.tunnelTls ? 'wss' : 'ws'}://${joinHostPort(this.addresses.tunnel.address, this.addresses.tunnel.port)}`;
  }

  get certificates(): AcmeCertificates | undefined {
    return this.#acme?.certificates;
  }

  get metrics(): TunnelMetrics | undefined {
    return this.#metrics;
  }

  devices(): RelayDeviceInfo[] {
    const now = Date.now();
    return [...this.#sessions.values()].map((session) => {
      const grants = this.#registry.grantsOf(session.id);
      const names = [...new Set(grants.flatMap((grant) => grant.domains))];
      const tcp = new Set<number>();
      const udp = new Set<number>();
      for (const grant of grants) {
        const ports = grantedPorts(grant, this.#policy);
        for (const port of ports.tcp) tcp.add(port);
        for (const port of ports.udp) udp.add(port);
      }
      return {
        id: session.id,
        label: this.#labels.get(session.id) ?? session.id,
        address: session.remote,
        connectedAt: session.connectedAt.toISOString(),
        names,
        ports: { tcp: [...tcp], udp: [...udp] },
        tokens: grants.map((grant) => ({ jti: grant.jti ?? null, subject: grant.subject ?? null, expiresAt: grant.expiresAt?.toISOString() ?? null })),
        stats: session.tunnel.stats,
        clients: [...session.tunnel.clients.values()].map((client) => clientInfo(client, now)),
      };
    });
  }

  disconnectDevice(id: string): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    this.#log.info({ device: id }, 'device disconnected by the admin API');
    session.close();
    return true;
  }

  revokeToken(jti: string): string[] {
    this.#revoked.add(jti);
    const dropped: string[] = [];
    for (const session of this.#sessions.values()) {
      if (!this.#registry.grantsOf(session.id).some((grant) => grant.jti === jti)) continue;
      dropped.push(session.id);
      session.close();
    }
    this.#log.warn({ jti, devices: dropped, code: 'E_TOKEN_REVOKED' }, 'token revoked by the admin API');
    return dropped;
  }

  /** A verified token, unless the admin API revoked it. */
  #notRevoked(grant: Grant): Grant {
    if (grant.jti !== undefined && this.#revoked.has(grant.jti)) throw new AuthError('E_TOKEN_REVOKED', 'the token was revoked');
    return grant;
  }

  get ports(): { tcp: number[]; udp: number[] } {
    return { tcp: this.#tcpPorts.listening, udp: this.#udpPorts.listening };
  }

  get deviceCount(): number {
    return this.#sessions.size;
  }

  get clientCount(): number {
    let count = 0;
    for (const session of this.#sessions.values()) count += session.clientCount;
    return count;
  }

  async listen(): Promise<void> {
    const listens = Array.isArray(this.#options.listen) ? this.#options.listen : [this.#options.listen];
    const publicAts = listens.map((listen: string | ListenAddress | undefined) => parseListen(listen, DEFAULT_PUBLIC, 'listen'));
    const tunnelAt = parseListen(this.#options.tunnel, DEFAULT_TUNNEL, 'tunnel');
    const bind = (server: TcpServer | HttpServer, at: ListenAddress, option: 'listen' | 'tunnel'): Promise<void> =>
      listenOn(server, at, this.#log).catch((error: NodeJS.ErrnoException) => {
        throw new ListenError(option, joinHostPort(at.host, at.port), error);
      });
    const listening = await Promise.allSettled([
      ...this.#publicServers.map((server, i) => bind(server, publicAts[i] as ListenAddress, 'listen')),
      bind(this.#tunnelServer, tunnelAt, 'tunnel'),
      ...(this.#cluster ? [this.#cluster.start()] : []),
    ]);
    const failed = listening.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      // Half a relay is no relay: close the listeners that did start, so the process can exit.
      await Promise.all([...this.#publicServers.map(closeServer), closeServer(this.#tunnelServer), this.#cluster?.close()]);
      throw failed.reason;
    }
    this.#cluster?.changed$?.subscribe(() => this.#queueReconcile());
    const visitors = this.#publicServers.map((server) => server.address() as AddressInfo);
    this.#addresses = {
      public: visitors[0] as AddressInfo,
      visitors,
      tunnel: this.#tunnelServer.address() as AddressInfo,
    };
    for (const address of visitors) this.#log.info({ address: joinHostPort(address.address, address.port) }, 'visitors listener ready');
    this.#log.info({ address: joinHostPort(this.#addresses.tunnel.address, this.#addresses.tunnel.port), url: this.tunnelUrl }, 'device endpoint ready');
    // Orders need the visitor listener up: the CA validates through it.
    this.#acme?.certificates.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#acme?.certificates.close();
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    const sessions = [...this.#sessions.values()];
    for (const visitor of this.#visitors) visitor.destroy();
    // A close frame, not a dropped connection: the devices say the relay shut down (1001, "going
    // away") instead of reporting a broken connection. One that does not answer within a second
    // is dropped all the same.
    for (const client of this.#wss.clients) client.close(1001, 'the relay is shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(sessions.map((session) => session.closed)), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    for (const session of sessions) session.close();
    for (const client of this.#wss.clients) client.terminate();
    await Promise.all([this.#tcpPorts.closeAll(), this.#udpPorts.closeAll()]);
    this.#tunnelServer.closeAllConnections?.();
    await Promise.all([...this.#publicServers.map(closeServer), closeServer(this.#tunnelServer)]);
    await Promise.all(sessions.map((session) => session.closed));
    await this.#cluster?.close();
    this.#log.info('relay closed');
  }

  async drain(timeout = this.#drainTimeout): Promise<void> {
    if (this.#closed || this.#draining) return;
    this.#draining = true;
    this.#log.info({ timeout }, 'draining: listeners closed, leases handed over, open visitors may finish');
    // Not awaited: a server's close() resolves only once its connections are gone.
    for (const server of this.#publicServers) server.close();
    this.#tunnelServer.close();
    await Promise.all([this.#tcpPorts.closeAll(), this.#udpPorts.closeAll()]);
    await this.#cluster?.drain();
    for (const session of this.#sessions.values()) session.drain();
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline && (this.#visitors.size > 0 || this.clientCount > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.#visitors.size > 0 || this.clientCount > 0) {
      this.#log.warn({ visitors: this.#visitors.size, clients: this.clientCount }, 'drain timeout: closing the visitors still open');
    }
    await this.close();
  }

  // Devices

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    if (this.#closed) return void socket.destroy();
    const sessionId = `device-${this.#nextSession++}`;
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const token = tokenFromRequest(req);
    let grant: Grant | undefined;
    if (token !== undefined) {
      try {
        grant = this.#withinPolicy(this.#notRevoked(await verifyToken(token, this.#secret)), remote);
        this.#registry.add(sessionId, grant);
      } catch (error) {
        const { message, code } = toControlErrorBody(error);
        this.#metrics?.refused(code);
        this.#log.warn({ remote, code }, `device refused: ${message}`);
        refuseUpgrade(socket, { message, code });
        return;
      }
    }
    // ws calls back only for a completed handshake: until then the grant belongs to a socket,
    // and must go with it if the handshake fails or the device leaves first.
    const abandon = (): void => {
      this.#registry.removeSession(sessionId);
    };
    socket.once('close', abandon);
    if (this.#closed || socket.destroyed) {
      abandon();
      return void socket.destroy();
    }
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      socket.off('close', abandon);
      const log = childLogger(this.#log, { device: sessionId, remote });
      const session = new DeviceSession({
        id: sessionId,
        ws,
        socket,
        log,
        remote,
        options: this.#options,
        addToken: (jwt) => this.#addToken(sessionId, jwt),
        deleteToken: (jwt) => this.#deleteToken(sessionId, jwt),
        grantsOf: () => this.#registry.grantsOf(sessionId),
        portsOf: (granted) => grantedPorts(granted, this.#policy),
      });
      this.#sessions.set(sessionId, session);
      const label = grant?.subject ?? grant?.domains[0] ?? sessionId;
      this.#labels.set(sessionId, label);
      if (this.#metrics) {
        const metrics = this.#metrics;
        metrics.tunnelOpened(label, session.tunnel);
        watchRoundTrip(ws, (ms) => metrics.roundTrip(label, ms));
      }
      log.info({ subject: grant?.subject, names: grant?.domains, ports: grant?.ports }, 'device connected');
      if (grant) session.granted(grant);
      session.start(grant !== undefined);
      void session.closed.then(({ error }) => {
        this.#sessions.delete(sessionId);
        this.#labels.delete(sessionId);
        // Holder sets that included this device are gone for good.
        this.#roundRobin.clear();
        this.#rememberGone(this.#registry.grantsOf(sessionId));
        this.#registry.removeSession(sessionId);
        const code = (error as { code?: unknown } | undefined)?.code;
        if (error) log.info({ code: typeof code === 'string' ? code : undefined, err: error.message }, 'device disconnected');
        else log.info('device disconnected');
        this.#reconcilePorts();
      });
      this.#reconcilePorts();
    });
  }

  async #addToken(sessionId: string, jwt: unknown): Promise<Grant> {
    if (typeof jwt !== 'string') throw new RelayError('E_NO_TOKEN', 'add_token takes a token string');
    const grant = this.#withinPolicy(this.#notRevoked(await verifyToken(jwt, this.#secret)), sessionId);
    // The device may have left while the token was checked: a gone session holds nothing.
    if (!this.#sessions.get(sessionId)?.isOpen) throw new RelayError('E_NO_DEVICE', 'the device left while its token was checked');
    this.#registry.add(sessionId, grant);
    this.#reconcilePorts();
    return grant;
  }

  #deleteToken(sessionId: string, jwt: unknown): void {
    if (jwt !== '*' && typeof jwt !== 'string') throw new RelayError('E_NO_TOKEN', "delete_token takes a token string or '*'");
    this.#registry.remove(sessionId, jwt);
    this.#reconcilePorts();
  }

  /** The grant with its ports narrowed to what the relay's port ranges open. */
  #withinPolicy(grant: Grant, who: string): Grant {
    const ports = grantedPorts(grant, this.#policy);
    if (ports.refused.length > 0) {
      // A token left with nothing to serve is refused, so that its device hears why at once.
      if (grant.domains.length === 0 && ports.tcp.length === 0 && ports.udp.length === 0) {
        throw new RelayError(
          'E_PORT_NOT_ALLOWED',
          `the relay opens none of the token's ports (${ports.refused.join(', ')}) to devices: they are outside its --tcp-ports and --udp-ports`,
        );
      }
      this.#log.warn({ who, ports: ports.refused, code: 'E_PORT_NOT_ALLOWED' }, 'token claims ports outside --tcp-ports/--udp-ports');
    }
    return { ...grant, ports: [...new Set([...ports.tcp, ...ports.udp])] };
  }

  /** Round-robin among the devices that hold a name (or port). */
  #pick(sessionIds: readonly string[]): DeviceSession | undefined {
    const live = sessionIds.map((id) => this.#sessions.get(id)).filter((s): s is DeviceSession => s?.isOpen === true);
    if (live.length === 0) return undefined;
    if (live.length === 1) return live[0];
    // Keyed by who holds the name, not by the name asked for: under a wildcard, visitors choose
    // the names, and must not grow this map.
    const holders = live.map((session) => session.id).join(',');
    const turn = this.#roundRobin.get(holders) ?? 0;
    this.#roundRobin.set(holders, turn + 1);
    return live[turn % live.length];
  }

  // Visitors

  /**
   * Who the visitor is: the socket's peer, or, from a trusted load balancer, the source its
   * PROXY header names. Undefined when the connection was refused (and closed, with a log line).
   */
  async #visitorOf(socket: Socket): Promise<VisitorAddress | undefined> {
    const peer: VisitorAddress = { family: socket.remoteFamily ?? 'IPv4', address: socket.remoteAddress ?? '', port: socket.remotePort ?? null };
    if (!this.#trusted?.trusts(peer.address)) return peer;
    try {
      const header = await readProxyHeader(socket, { timeout: this.#options.sniffTimeout ?? 10_000 });
      if (header.command === 'local' || !header.source) return peer;
      return { family: header.family, address: header.source.address, port: header.source.port };
    } catch (error) {
      const { code, message } = error as ProxyProtocolError;
      this.#log.warn({ remote: `${peer.address}:${peer.port ?? '?'}`, code }, `visitor refused: bad PROXY header: ${message}`);
      this.#metrics?.refused(code);
      socket.destroy();
      return undefined;
    }
  }

  /** A PROXY header from a source not trusted to send one: refused, with a log line. */
  #untrustedHeader(socket: Socket, remote: string): void {
    this.#log.warn({ remote, code: 'E_PROXY_UNTRUSTED' }, 'visitor refused: a PROXY header from a source not in --accept-proxy-protocol');
    this.#metrics?.refused('E_PROXY_UNTRUSTED');
    socket.destroy();
  }

  async #visit(socket: Socket): Promise<void> {
    this.#track(socket);
    const visitor = await this.#visitorOf(socket);
    if (!visitor) return;
    const outcome = await sniffVisitor(socket, {
      timeout: this.#options.sniffTimeout ?? 10_000,
      maxBytes: this.#options.sniffMaxBytes ?? DEFAULT_SNIFF_MAX_BYTES,
    });
    const remote = `${visitor.address || '?'}:${visitor.port ?? '?'}`;
    if (outcome.kind === 'refused') {
      if (this.#trusted && outcome.code === 'E_INVALID_PROTOCOL' && outcome.head && looksLikeProxyHeader(outcome.head)) {
        this.#untrustedHeader(socket, remote);
        return;
      }
      this.#metrics?.refused(outcome.code);
      this.#log.info({ remote, code: outcome.code }, `visitor refused: ${outcome.reason}`);
      socket.destroy();
      return;
    }
    if (this.#acme && outcome.kind === 'tls' && outcome.name === this.#acme.name) {
      this.#serveOwnName(socket, outcome.head);
      return;
    }
    const service = outcome.kind === 'tls' ? 'https' : 'http';
    let session: DeviceSession | undefined;
    let away = false;
    if (this.#cluster) {
      const route = outcome.name ? this.#cluster.routeName(outcome.name) : undefined;
      if (route?.kind === 'remote') {
        await this.#forward(route.node, socket, visitor, { service, serviceport: socket.localPort ?? null, name: outcome.name }, outcome.head);
        return;
      }
      away = route?.kind === 'away';
      session = this.#pickRoute(route, (pattern) => this.#registry.sessionsFor(pattern));
    } else {
      session = this.#pick(outcome.name ? this.#registry.sessionsFor(outcome.name) : []);
    }
    if (!session) {
      this.#metrics?.refused('E_NO_DEVICE');
      const gone = away || this.#wasServed(outcome.name);
      this.#log.info(
        { remote, name: outcome.name, service, code: 'E_NO_DEVICE' },
        gone ? 'the device of this name is not connected' : 'no device serves this name',
      );
      socket.end(unroutedAnswer(service, outcome.name, gone ? 'disconnected' : 'unknown'));
      return;
    }
    const client = this.#openFor(session, socket, visitor, { service, serviceport: socket.localPort ?? null, name: outcome.name });
    if (!client) return;
    client.write(outcome.head);
    connectSocket(client, socket);
  }

  /** The certificate of the relay's own name for its wss:// endpoint, while it has one. */
  #ownName(servername: string, callback: (error: Error | null, context?: SecureContext) => void): void {
    const context = this.#acme && normalizeName(servername) === this.#acme.name ? this.#acme.certificates.current(this.#acme.name)?.context : undefined;
    if (context) callback(null, context);
    else callback(new TlsError('E_NO_CERTIFICATE', `no certificate for ${servername} (yet)`));
  }

  /**
   * A visitor for the relay's own name: the CA's tls-alpn-01 validation gets its challenge
   * certificate; anyone else reaches the device endpoint (so that it also answers on the
   * visitor port, 443 on a real relay).
   */
  #serveOwnName(socket: Socket, head: Buffer): void {
    const acme = this.#acme as { name: string; certificates: AcmeCertificates };
    const hello = readClientHello(head);
    const challenge = acme.certificates.alpnChallenge(acme.name);
    socket.unshift(head);
    if (hello.status === 'tls' && hello.alpn?.includes(ACME_TLS_ALPN)) {
      // Without a pending validation, the CA (or anyone offering acme-tls/1) gets an alert.
      terminate(socket, { context: undefined }, challenge, () => undefined);
      return;
    }
    // The TLS server reads the socket's handle itself (and `head` from its buffer): resuming
    // the socket here would make it read past the TLS layer.
    this.#tunnelServer.emit('connection', socket);
  }

  async #visitPort(port: number, socket: Socket): Promise<void> {
    this.#track(socket);
    const visitor = await this.#visitorOf(socket);
    if (!visitor) return;
    let session: DeviceSession | undefined;
    if (this.#cluster) {
      const route = this.#cluster.routePort('tcp', port);
      if (route?.kind === 'remote') {
        void this.#forward(route.node, socket, visitor, { service: 'tcp', serviceport: port, name: '' });
        return;
      }
      session = this.#pickRoute(route, () => this.#registry.sessionsForPort(port));
    } else {
      session = this.#pick(this.#registry.sessionsForPort(port));
    }
    if (!session) {
      this.#metrics?.refused('E_NO_DEVICE');
      socket.destroy();
      return;
    }
    const client = this.#openFor(session, socket, visitor, { service: 'tcp', serviceport: port, name: '' });
    if (!client) return;
    if (this.#trusted && !this.#trusted.trusts(socket.remoteAddress)) {
      // The first bytes of a claimed port are the visitor's own and are not waited for (the
      // service may speak first): they are looked at as they pass, once, and a PROXY header
      // from an untrusted source fails the client before they reach it.
      socket.prependOnceListener('data', (chunk: Buffer) => {
        if (!looksLikeProxyHeader(chunk)) return;
        client.destroy(new ProxyProtocolError('E_PROXY_UNTRUSTED', 'a PROXY header from an untrusted source'));
        this.#untrustedHeader(socket, `${visitor.address}:${visitor.port ?? '?'}`);
      });
    }
    connectSocket(client, socket);
  }

  #openFor(session: DeviceSession, socket: Socket, visitor: VisitorAddress, where: Pick<OpenClientMeta, 'service' | 'serviceport' | 'name'>): Client | undefined {
    const meta: OpenClientMeta = { ...visitor, ...where };
    try {
      // One device's tunnel carries the visitors of every port it is reached on (and, in a
      // cluster, of every node): one address and port can be two visitors at once.
      const client = openUnique((unique) => session.open(unique), meta);
      this.#metrics?.clientOpened(this.#labels.get(session.id) ?? session.id, client);
      return client;
    } catch (error) {
      this.#log.warn({ err: toControlErrorBody(error) }, 'cannot open a client for this visitor');
      socket.destroy();
      return undefined;
    }
  }

  // Cluster

  /**
   * The local device a cluster route names: among the sessions holding the route's pattern (or
   * port), those whose grant is of the lease's owner.
   */
  #pickRoute(route: ClusterRoute | undefined, holders: (pattern: string) => string[]): DeviceSession | undefined {
    if (route?.kind !== 'local') return undefined;
    const owned = holders(route.pattern).filter((id) => this.#registry.grantsOf(id).some((grant) => ownerOf(grant) === route.owner));
    return this.#pick(owned);
  }

  /** A visitor for a name or port another node holds: carried there over the node-to-node tunnel. */
  async #forward(node: string, socket: Socket, visitor: VisitorAddress, where: Pick<OpenClientMeta, 'service' | 'serviceport' | 'name'>, head?: Buffer): Promise<void> {
    const cluster = this.#cluster as ClusterNode;
    try {
      await cluster.forward(node, socket, { ...visitor, ...where }, head);
    } catch (error) {
      const { message, code } = toControlErrorBody(error);
      this.#log.warn({ peer: node, name: where.name, port: where.serviceport, code }, `cannot forward the visitor: ${message}`);
      const reason = code === 'E_NODE_UNREACHABLE' || code === 'E_NODE_AUTH' ? 'unreachable' : 'disconnected';
      if (socket.destroyed) return;
      const answer = unroutedAnswer(where.service, where.name ?? '', reason);
      if (answer) socket.end(answer);
      else socket.destroy();
    }
  }

  /**
   * A visitor another node forwarded here: served as if it had arrived here, by the local device
   * that holds the lease, its bytes joined both ways with backpressure. Never forwarded again:
   * two nodes that disagree for a moment must not bounce a visitor between them.
   */
  #serveForwarded(client: Client, from: string): void {
    const cluster = this.#cluster as ClusterNode;
    const { meta } = client;
    const isPort = meta.service === 'tcp' || meta.service === 'udp';
    const route = isPort ? cluster.routePort(meta.service as 'tcp' | 'udp', meta.serviceport ?? 0) : cluster.routeName(meta.name);
    const session = this.#pickRoute(route, (pattern) => (isPort ? this.#registry.sessionsForPort(meta.serviceport ?? 0) : this.#registry.sessionsFor(pattern)));
    let device: Client | undefined;
    try {
      if (!session || this.#draining) throw new RelayError('E_NO_DEVICE', `no device here for ${meta.service} ${meta.name || String(meta.serviceport)}`);
      device = openUnique((unique) => session.open(unique), { ...meta });
    } catch (error) {
      this.#log.info({ from, service: meta.service, name: meta.name, port: meta.serviceport, code: toControlErrorBody(error).code }, 'forwarded visitor refused');
      // Answered as a visitor that came here would be, through the other node.
      const answer = unroutedAnswer(meta.service, meta.name, route?.kind === 'away' ? 'disconnected' : 'unknown');
      if (answer) {
        client.data$.subscribe({ error: () => undefined });
        client.write(answer);
        client.end();
      } else {
        client.destroy(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    const opened = device;
    pull((ready$) => fromClient(client, ready$), toClient(opened)).subscribe({ error: () => undefined });
    pull((ready$) => fromClient(opened, ready$), toClient(client)).subscribe({ error: () => undefined });
  }

  #queueReconcile(): void {
    if (this.#reconcileQueued) return;
    this.#reconcileQueued = true;
    queueMicrotask(() => {
      this.#reconcileQueued = false;
      this.#reconcilePorts();
    });
  }

  /** Keeps the names of a device that left (bounded: the oldest are forgotten first). */
  #rememberGone(grants: readonly Grant[]): void {
    for (const grant of grants) {
      for (const name of grant.domains) {
        this.#goneNames.delete(name);
        this.#goneNames.add(name);
      }
    }
    for (const name of this.#goneNames) {
      if (this.#goneNames.size <= MAX_GONE_NAMES) break;
      this.#goneNames.delete(name);
    }
  }

  /** Whether a device that left served `name` (exactly or under a wildcard). */
  #wasServed(name: string): boolean {
    if (!name) return false;
    for (const held of this.#goneNames) if (matchesName(held, name)) return true;
    return false;
  }

  #portHost(): string {
    return this.#options.portHost ?? this.#addresses?.public.address ?? DEFAULT_PUBLIC.host;
  }

  #openUdp(port: number, meta: OpenClientMeta): Client | undefined {
    let session: DeviceSession | undefined;
    if (this.#cluster) {
      const route = this.#cluster.routePort('udp', port);
      if (route?.kind === 'remote') {
        try {
          return this.#cluster.linkNow(route.node)?.open(meta);
        } catch {
          return undefined;
        }
      }
      session = this.#pickRoute(route, () => this.#registry.sessionsForPort(port));
    } else {
      session = this.#pick(this.#registry.sessionsForPort(port));
    }
    if (!session) return undefined;
    try {
      // A UDP visitor and a TCP one can share an address and port on one device's tunnel.
      const client = openUnique((unique) => session.open(unique), meta);
      this.#metrics?.clientOpened(this.#labels.get(session.id) ?? session.id, client);
      return client;
    } catch {
      return undefined;
    }
  }

  #track(socket: Socket): void {
    this.#visitors.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.once('close', () => this.#visitors.delete(socket));
  }

  // Claimed ports: a listener exists while at least one device holds the port.

  /** Tells the devices that hold a port the relay could not open it: they would wait for visitors in vain. */
  #portUnavailable(kind: 'tcp' | 'udp', port: number, error: Error & { code?: string }): void {
    const why = error.code === 'EADDRINUSE' ? 'something else on the relay uses it' : error.code === 'EACCES' ? 'the relay may not bind it' : error.message;
    const message = `the relay cannot listen on ${kind.toUpperCase()} port ${port} (${why}): it gets no visitors`;
    // Those the port's visitors would be routed to (the policy let the relay try this kind).
    for (const id of this.#registry.sessionsForPort(port)) this.#sessions.get(id)?.notice({ message, code: 'E_PORT_UNAVAILABLE' });
  }

  #reconcilePorts(): void {
    if (this.#closed || this.#draining) return;
    const wantedTcp = new Set<number>();
    const wantedUdp = new Set<number>();
    // With a cluster: the leases the local devices want, by owner.
    const leases = new Map<string, Set<string>>();
    const want = (id: string, owner: string): void => void (leases.get(id) ?? leases.set(id, new Set()).get(id))?.add(owner);
    for (const id of this.#sessions.keys()) {
      for (const grant of this.#registry.grantsOf(id)) {
        const ports = grantedPorts(grant, this.#policy);
        for (const port of ports.tcp) wantedTcp.add(port);
        for (const port of ports.udp) wantedUdp.add(port);
        if (!this.#cluster) continue;
        const owner = ownerOf(grant);
        for (const name of grant.domains) want(`name:${name}`, owner);
        for (const port of ports.tcp) want(`tcp:${port}`, owner);
        for (const port of ports.udp) want(`udp:${port}`, owner);
      }
    }
    if (this.#cluster) {
      this.#cluster.setWanted(leases);
      // Every node listens on the ports leased anywhere: a visitor may come to any of them.
      for (const port of this.#cluster.leasedPorts('tcp')) if (this.#policy.allows('tcp', port)) wantedTcp.add(port);
      for (const port of this.#cluster.leasedPorts('udp')) if (this.#policy.allows('udp', port)) wantedUdp.add(port);
    }
    this.#tcpPorts.reconcile(wantedTcp);
    this.#udpPorts.reconcile(wantedUdp);
    this.#scheduleExpiry();
  }

  /** Wakes up when the next held grant expires, so that it is evicted then. */
  #scheduleExpiry(): void {
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const at = this.#registry.nextExpiryAt();
    if (!at || this.#closed) return;
    // setTimeout cannot wait longer than 2^31-1 ms; a later expiry is rescheduled on wake-up.
    const wait = Math.min(Math.max(0, at.getTime() - Date.now()), MAX_TIMER);
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#registry.evictExpired();
      this.#reconcilePorts();
    }, wait);
    this.#expiryTimer.unref();
  }

  #expired(expired: ExpiredGrant): void {
    this.#log.warn(
      { device: expired.sessionId, names: expired.names, ports: expired.ports, code: 'E_TOKEN_EXPIRED' },
      'token expired: its names and ports are released',
    );
    // A device left with no valid token gets the grace to add a fresh one, then is closed.
    const session = this.#sessions.get(expired.sessionId);
    if (session && this.#registry.grantsOf(expired.sessionId).length === 0) session.tokensGone();
    // Once for all the grants that expired together.
    this.#queueReconcile();
  }
}

/** Answers a refused upgrade with 401 and the refusal's `{message, code}`. */
function refuseUpgrade(socket: Duplex, body: { message: string; code: string }): void {
  const text = JSON.stringify(body);
  socket.end(
    'HTTP/1.1 401 Unauthorized\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}

function listenOn(server: TcpServer | HttpServer, at: { host: string; port: number }, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      // A listening server's later errors (a failed accept) must not go unheard: with no
      // listener, Node would throw them and take the relay down.
      const { address: host, port } = server.address() as AddressInfo;
      const address = joinHostPort(host, port);
      server.on('error', (error) => log.error({ err: error.message, address }, 'listener error'));
      resolve();
    });
  });
}

function closeServer(server: TcpServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

