import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Observable } from 'rxjs';
import { wildcardCandidates, normalizeName } from '../auth/names.js';
import type { Grant } from '../auth/token.js';
import type { Logger } from '../logger.js';
import type { Client } from '../rx/client.js';
import type { TunnelOptions } from '../rx/options.js';
import type { OpenClientMeta, Tunnel } from '../rx/tunnel.js';
import { joinHostPort, splitHostPort, type HostPortText } from '../transport/host-port.js';
import { leaseId, type LeaseKind } from './keys.js';
import { LeaseRegistry, type LeaseHolder } from './leases.js';
import { NodeLinks } from './links.js';
import type { ResolvedClusterOptions } from './options.js';

/** Where a visitor goes, as the cluster sees it. */
export type ClusterRoute =
  /** Served here, by a local device of `owner` holding `pattern`. */
  | { readonly kind: 'local'; readonly pattern: string; readonly owner: string }
  /** Forwarded to the node that holds the lease. */
  | { readonly kind: 'remote'; readonly node: string }
  /** The device of the name dropped and its lease waits for it (the grace). */
  | { readonly kind: 'away' };

/** What the relay hands a {@link ClusterNode}. */
export interface ClusterNodeOptions extends ResolvedClusterOptions {
  readonly secret: string | Uint8Array;
  /** Key and certificate of the node-to-node endpoint with `nodeTls`. */
  readonly tls?: SecureContextOptions;
  /** A visitor that another node forwarded here. */
  readonly onClient: (client: Client, from: string) => void;
  readonly tunnelOptions?: TunnelOptions;
  readonly log: Logger;
}

/**
 * The owner a lease is held for: the token's subject when it has one (devices of one subject
 * share names, as on a single relay), else a hash of the token itself (never the token: it is
 * a credential, and the registry is readable by every node and `mproxy cluster status`).
 */
export function ownerOf(grant: Grant): string {
  if (grant.subject !== undefined) return `sub:${grant.subject}`;
  return `tok:${createHash('sha256').update(grant.token).digest('hex').slice(0, 32)}`;
}

/**
 * A relay's membership in a cluster: the lease registry on Redis and the node-to-node links,
 * with the routing questions the relay asks of them.
 */
export class ClusterNode {
  readonly id: string;
  readonly #options: ClusterNodeOptions;
  readonly #links: NodeLinks;
  #registry: LeaseRegistry | undefined;
  #address: string | undefined;
  #draining = false;
  /** `id\0owner` pairs the local devices want, as last given to {@link setWanted}. */
  #wanted = new Set<string>();

  constructor(options: ClusterNodeOptions) {
    this.#options = options;
    this.id = options.nodeId;
    // Checked by resolveClusterOptions.
    const listen = splitHostPort(options.nodeListen) as HostPortText;
    this.#links = new NodeLinks({
      nodeId: options.nodeId,
      secret: options.secret,
      listen: { host: listen.host || '127.0.0.1', port: Number(listen.port) },
      tls: options.nodeTls === false ? undefined : options.nodeTls === true ? options.tls : options.nodeTls,
      resolve: (node) => this.#registry?.node(node) ?? Promise.resolve(undefined),
      onClient: options.onClient,
      tunnelOptions: options.tunnelOptions,
      log: options.log,
    });
  }

  /** Listens for other nodes, then joins the registry (which connects in the background). */
  async start(): Promise<AddressInfo> {
    const bound = await this.#links.listen();
    this.#address = this.#options.nodeAdvertise ?? joinHostPort(bound.address, bound.port);
    this.#registry = new LeaseRegistry({
      url: this.#options.url,
      nodeId: this.id,
      ttl: this.#options.leaseTtl,
      grace: this.#options.leaseGrace,
      record: () => ({ id: this.id, address: this.#address as string, tls: this.#options.nodeTls !== false, draining: this.#draining }),
      log: this.#options.log,
    });
    this.#options.log.info({ address: this.#address, tls: this.#options.nodeTls !== false }, 'cluster node endpoint ready');
    return bound;
  }

  /** Emits when leases changed (the ports to listen on may differ). */
  get changed$(): Observable<void> | undefined {
    return this.#registry?.changed$;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * The leases the local devices want now, as `lease id → owners`: claims what is new, lets go
   * (to grace) what is no longer wanted.
   */
  setWanted(wanted: ReadonlyMap<string, ReadonlySet<string>>): void {
    const registry = this.#registry;
    if (!registry || this.#draining) return;
    const next = new Set<string>();
    for (const [id, owners] of wanted) for (const owner of owners) next.add(`${id}\0${owner}`);
    for (const pair of next) {
      if (this.#wanted.has(pair)) continue;
      const [id, owner] = pair.split('\0') as [string, string];
      registry.want(id, owner);
    }
    for (const pair of this.#wanted) {
      if (next.has(pair)) continue;
      const [id, owner] = pair.split('\0') as [string, string];
      registry.unwant(id, owner);
    }
    this.#wanted = next;
  }

  /** Where a visitor for `name` goes: the most specific name with a lease decides. */
  routeName(name: string): ClusterRoute | undefined {
    const normalized = normalizeName(name);
    for (const pattern of [normalized, ...wildcardCandidates(normalized)]) {
      const route = this.#route(leaseId('name', pattern), pattern);
      if (route) return route;
    }
    return undefined;
  }

  /** Where a visitor of a claimed port goes. */
  routePort(kind: 'tcp' | 'udp', port: number): ClusterRoute | undefined {
    return this.#route(leaseId(kind, port), String(port));
  }

  /** The ports leased anywhere in the cluster, of one kind: every node listens on them. */
  leasedPorts(kind: 'tcp' | 'udp'): number[] {
    const ports: number[] = [];
    for (const [id, holder] of this.#registry?.leases() ?? []) {
      if (holder.state !== 'live') continue;
      const [leaseKind, what] = id.split(':') as [LeaseKind, string];
      if (leaseKind === kind) ports.push(Number(what));
    }
    return ports;
  }

  /** Carries a visitor to `node` (see {@link NodeLinks.forward}). */
  forward(node: string, socket: Socket, meta: OpenClientMeta, head?: Uint8Array): Promise<void> {
    return this.#links.forward(node, socket, meta, head);
  }

  /** The tunnel to `node` when it is up now; dials it for next time otherwise (UDP cannot wait). */
  linkNow(node: string): Tunnel | undefined {
    return this.#links.linkNow(node);
  }

  /**
   * Drain, first half: refuse forwarded visitors, hand every lease over (to grace, so that the
   * same device takes it on another node at once).
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#links.stopAccepting();
    await this.#registry?.handOver();
  }

  /**
   * Leaves the cluster: the leases still held go to grace (a standby of the same device takes
   * them at once rather than after the TTL), the links close, the node's record goes.
   */
  async close(): Promise<void> {
    if (!this.#draining) await this.#registry?.handOver().catch(() => undefined);
    await this.#links.close();
    await this.#registry?.close();
  }

  #route(id: string, pattern: string): ClusterRoute | undefined {
    const holder: LeaseHolder | undefined = this.#registry?.holderOf(id);
    if (!holder) return undefined;
    if (holder.node !== this.id) return holder.state === 'live' ? { kind: 'remote', node: holder.node } : { kind: 'away' };
    return holder.state === 'live' ? { kind: 'local', pattern, owner: holder.owner } : { kind: 'away' };
  }
}
