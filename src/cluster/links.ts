import { once } from 'node:events';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import { firstValueFrom } from 'rxjs';
import { createControlChannel } from '../control/channel.js';
import type { Logger } from '../logger.js';
import type { Client } from '../rx/client.js';
import { connectSocket } from '../rx/connect-socket.js';
import type { TunnelOptions } from '../rx/options.js';
import { createTunnel, type OpenClientMeta, type Tunnel } from '../rx/tunnel.js';
import { splitHostPort } from '../transport/host-port.js';
import { fromSocket } from '../transport/socket.js';
import { ClusterError } from './errors.js';
import { openUnique } from './unique.js';
import type { NodeRecord } from './leases.js';
import { channelBinding, checkNodeAuth, checkNodeAuthAnswer, nodeAuthAnswer, nodeAuthRequest, AUTH_WINDOW_MS } from './node-auth.js';

/** Options of {@link NodeLinks}. */
export interface NodeLinksOptions {
  readonly nodeId: string;
  readonly secret: string | Uint8Array;
  readonly listen: { readonly host: string; readonly port: number };
  /** Key and certificate of the node-to-node endpoint, to serve it over TLS. */
  readonly tls?: SecureContextOptions;
  /** Where a node is (its registered record). */
  readonly resolve: (nodeId: string) => Promise<NodeRecord | undefined>;
  /** A visitor another node forwarded here. */
  readonly onClient: (client: Client, from: string) => void;
  readonly tunnelOptions?: TunnelOptions;
  readonly log: Logger;
}

/** How long a node-to-node connection may take to connect and authenticate. */
const LINK_TIMEOUT = 5_000;
/** How long a visitor whose link went away gets to read its end before it is closed. */
const LINGER = 2_000;
/** Nonces remembered against replays (each lives `AUTH_WINDOW_MS`). */
const MAX_NONCES = 100_000;

/**
 * The node-to-node tunnels of one node: an endpoint where other nodes forward visitors here,
 * and one outgoing tunnel per node this node forwards to (dialled on first need, redialled
 * after a drop). Each is a tunnel of the reactive core over TCP or TLS: M-PROXY frames, fair
 * merge, per-client pause/resume, exactly as a device tunnel.
 */
export class NodeLinks {
  readonly #options: NodeLinksOptions;
  readonly #log: Logger;
  #server: Server | undefined;
  #tls: SecureContextOptions | undefined;
  readonly #out = new Map<string, Promise<Tunnel>>();
  /** The outgoing tunnels that are up, for those that cannot wait for a dial (UDP). */
  readonly #up = new Map<string, Tunnel>();
  readonly #inbound = new Set<Tunnel>();
  readonly #nonces = new Map<string, number>();
  #accepting = true;
  #closed = false;

  constructor(options: NodeLinksOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#tls = options.tls;
  }


  /** Listens; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    const server = this.#tls
      ? createTlsServer(this.#tls, (socket) => this.#accept(socket))
      : createTcpServer((socket) => this.#accept(socket));
    this.#server = server;
    server.on('tlsClientError', () => undefined);
    server.listen(this.#options.listen.port, this.#options.listen.host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
    server.on('error', (error: Error) => this.#log.error({ err: error.message }, 'node listener error'));
    return server.address() as AddressInfo;
  }

  /** How many node-to-node tunnels are open, both ways. */
  get linkCount(): number {
    return this.#inbound.size + this.#out.size;
  }

  /**
   * Carries a visitor's socket to `nodeId`: a client on the tunnel to it (dialled if need be),
   * `head` (the bytes sniffed) first, then both ways with backpressure. Rejects when the node
   * cannot be reached; the socket is then the caller's. Should the link go away later, the
   * visitor gets a clean end (FIN), never a hang.
   */
  async forward(nodeId: string, socket: Socket, meta: OpenClientMeta, head?: Uint8Array): Promise<void> {
    const tunnel = await this.link(nodeId);
    if (socket.destroyed) return;
    const client = openUnique((unique) => tunnel.open(unique), meta);
    if (head && head.length > 0) client.write(head);
    const joined = connectSocket(client, socket);
    const onLinkLost = (): void => {
      if (client.closed || socket.destroyed) return;
      // Detached before the tunnel fails the client, which would reset the socket: the visitor
      // hears a clean end, and what it still sends is read and dropped.
      joined.unsubscribe();
      socket.on('data', () => undefined);
      socket.resume();
      socket.end();
      setTimeout(() => socket.destroy(), LINGER).unref();
    };
    const lost = linkLost.get(tunnel);
    lost?.add(onLinkLost);
    client.closed$.subscribe(() => lost?.delete(onLinkLost));
  }

  /** The tunnel to `nodeId`, dialled and authenticated if it is not up. */
  link(nodeId: string): Promise<Tunnel> {
    if (this.#closed) return Promise.reject(new ClusterError('E_NODE_UNREACHABLE', 'the node is closing'));
    let tunnel = this.#out.get(nodeId);
    if (!tunnel) {
      tunnel = this.#dial(nodeId);
      this.#out.set(nodeId, tunnel);
      tunnel.then(
        (open) => {
          this.#up.set(nodeId, open);
          open.closed$.subscribe(() => {
            if (this.#out.get(nodeId) === tunnel) this.#out.delete(nodeId);
            if (this.#up.get(nodeId) === open) this.#up.delete(nodeId);
          });
        },
        () => this.#out.get(nodeId) === tunnel && this.#out.delete(nodeId),
      );
    }
    return tunnel;
  }

  /** The tunnel to `nodeId` if it is up now; otherwise starts dialling it and says undefined. */
  linkNow(nodeId: string): Tunnel | undefined {
    const up = this.#up.get(nodeId);
    if (!up) this.link(nodeId).catch(() => undefined);
    return up;
  }

  /** Forwarded visitors are refused from now on (drain); those open go on. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Closes the endpoint and every tunnel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const server = this.#server;
    const closing = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const tunnel of this.#inbound) tunnel.destroy();
    for (const pending of this.#out.values()) void pending.then((tunnel) => tunnel.destroy(), () => undefined);
    await closing;
  }

  async #dial(nodeId: string): Promise<Tunnel> {
    const record = await this.#options.resolve(nodeId);
    if (!record) throw new ClusterError('E_NODE_UNREACHABLE', `node ${nodeId} is not registered`);
    const parts = splitHostPort(record.address);
    if (!parts) throw new ClusterError('E_NODE_UNREACHABLE', `node ${nodeId} registered a bad address ${record.address}`);
    const host = parts.host ?? '127.0.0.1';
    const port = Number(parts.port);
    // The peer is authenticated by the secret (bound to this TLS session), not by a CA.
    const socket = record.tls ? tlsConnect({ host, port, rejectUnauthorized: false }) : tcpConnect({ host, port });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), LINK_TIMEOUT);
    try {
      await Promise.race([
        once(socket, record.tls ? 'secureConnect' : 'connect'),
        once(socket, 'close').then(() => Promise.reject(new Error('connection closed'))),
      ]);
    } catch (error) {
      clearTimeout(timer);
      socket.destroy();
      throw new ClusterError('E_NODE_UNREACHABLE', `cannot reach node ${nodeId} at ${record.address}: ${(error as Error).message}`, { cause: error });
    }
    const lost = watchLoss(socket);
    const tunnel = createTunnel(fromSocket(socket), { ...this.#options.tunnelOptions, unknownData: 'reject' });
    linkLost.set(tunnel, lost);
    const channel = createControlChannel(tunnel, { timeout: LINK_TIMEOUT });
    const request = nodeAuthRequest(this.#options.secret, this.#options.nodeId, nodeId, channelBinding(socket));
    try {
      const answer = await firstValueFrom(channel.request('node_auth', request));
      if (!checkNodeAuthAnswer(this.#options.secret, request, answer, channelBinding(socket))) {
        throw new ClusterError('E_NODE_AUTH', `node ${nodeId} did not prove it knows the cluster secret: does every node have the same --secret?`);
      }
    } catch (error) {
      tunnel.destroy();
      const code = (error as { code?: string }).code === 'E_NODE_AUTH' ? 'E_NODE_AUTH' : 'E_NODE_UNREACHABLE';
      this.#log.warn({ peer: nodeId, code }, `node-to-node link refused: ${(error as Error).message}`);
      throw new ClusterError(code, `node ${nodeId}: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    this.#log.info({ peer: nodeId, address: record.address }, 'node-to-node link up');
    tunnel.closed$.subscribe(() => this.#log.info({ peer: nodeId }, 'node-to-node link down'));
    return tunnel;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.#closed) return void socket.destroy();
    const tunnel = createTunnel(fromSocket(socket), { ...this.#options.tunnelOptions, unknownData: 'reject' });
    this.#inbound.add(tunnel);
    tunnel.closed$.subscribe(() => this.#inbound.delete(tunnel));
    const channel = createControlChannel(tunnel);
    const timer = setTimeout(() => {
      this.#log.warn({ remote, code: 'E_NODE_AUTH' }, 'node-to-node connection refused: no authentication in time');
      tunnel.destroy();
    }, LINK_TIMEOUT);
    timer.unref();
    tunnel.closed$.subscribe(() => clearTimeout(timer));
    channel.handle('node_auth', (args) => {
      const request = args[0];
      const binding = channelBinding(socket);
      const fresh = checkNodeAuth(this.#options.secret, this.#options.nodeId, request, binding) && this.#freshNonce(request.nonce);
      if (!fresh) {
        this.#log.warn({ remote, code: 'E_NODE_AUTH' }, 'node-to-node connection refused: wrong cluster secret (or a replayed or stale proof)');
        setImmediate(() => tunnel.close());
        throw new ClusterError('E_NODE_AUTH', 'node authentication failed: does every node have the same --secret?');
      }
      clearTimeout(timer);
      const from = request.from;
      this.#log.info({ peer: from, remote }, 'node-to-node link accepted');
      // Subscribed only now: until then, a client the remote opens is refused (E_NOT_ACCEPTING).
      tunnel.clients$.subscribe((client) => {
        if (!this.#accepting) {
          client.destroy(new ClusterError('E_DRAINING', 'this node is draining'));
          return;
        }
        this.#options.onClient(client, from);
      });
      return nodeAuthAnswer(this.#options.secret, request, binding);
    });
  }

  #freshNonce(nonce: string): boolean {
    const now = Date.now();
    if (this.#nonces.has(nonce)) return false;
    if (this.#nonces.size >= MAX_NONCES) {
      for (const [old, at] of this.#nonces) {
        if (now - at < AUTH_WINDOW_MS * 2 && this.#nonces.size < MAX_NONCES) break;
        this.#nonces.delete(old);
      }
    }
    this.#nonces.set(nonce, now);
    return true;
  }
}

/** Per outgoing tunnel: what to do for each visitor on it when its socket goes away. */
const linkLost = new WeakMap<Tunnel, Set<() => void>>();

/**
 * Listens for the end of a link's socket before the transport does (listeners run in the order
 * they were added), so that the visitors on it are detached and ended cleanly first.
 */
function watchLoss(socket: Socket): Set<() => void> {
  const handlers = new Set<() => void>();
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    for (const handler of [...handlers]) handler();
  };
  socket.on('end', fire);
  socket.on('error', fire);
  socket.on('close', fire);
  return handlers;
}
