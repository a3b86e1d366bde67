import type { SecureContextOptions } from 'node:tls';
import { InvalidOptionError } from '../codec/errors.js';
import { parseMilliseconds } from './duration.js';
import { parseRedisUrl } from './redis.js';
import { splitHostPort } from '../transport/host-port.js';
import { bracketHint } from '../address-hint.js';

/** Options of a relay that is a node of a cluster (`RelayOptions.cluster`). */
export interface ClusterOptions {
  /**
   * Where the registry lives: `redis://[user:pass@]host:port[/db]` or `rediss://…` (one Redis),
   * `redis+sentinel://host:port[,host:port…]/MASTER` (Sentinel), or
   * `redis+cluster://host:port[,host:port…]` (Redis Cluster).
   */
  url: string;
  /** This node's id, unique in the cluster: letters, digits, `.`, `_`, `-`. */
  nodeId: string;
  /** Where other nodes connect to forward visitors here: `host:port` (`port` 0 picks one). */
  nodeListen: string;
  /**
   * The address other nodes dial, when it differs from the one `nodeListen` binds (a node
   * listening on `0.0.0.0`). Default: the bound address.
   */
  nodeAdvertise?: string;
  /**
   * Serve the node-to-node endpoint over TLS, with this key and certificate (`true`: those of
   * `tunnelTls`). Nodes authenticate each other with the secret bound to the TLS session, so a
   * self-signed certificate serves (see docs/cluster.md). Default: plain TCP.
   */
  nodeTls?: boolean | SecureContextOptions;
  /** How long a lease lives without a heartbeat (ms). Default 10 000. A heartbeat every third. */
  leaseTtl?: number;
  /** How long a device's names wait for it after it drops (ms); 0: none. Default 30 000. */
  leaseGrace?: number;
  /** On drain, how long open visitors may take to finish (ms). Default 30 000. */
  drainTimeout?: number;
}

/** {@link ClusterOptions} with every default filled in. */
export interface ResolvedClusterOptions extends Required<Omit<ClusterOptions, 'nodeAdvertise' | 'nodeTls'>> {
  readonly nodeAdvertise: string | undefined;
  readonly nodeTls: boolean | SecureContextOptions;
}

/** The default lease time to live: a dead node's names move within this. */
export const DEFAULT_LEASE_TTL = 10_000;
/** The default grace a dropped device's names wait for it. */
export const DEFAULT_LEASE_GRACE = 30_000;
/** The default time open visitors get to finish on drain. */
export const DEFAULT_DRAIN_TIMEOUT = 30_000;

/**
 * Checks a node address: where this node listens (its host may be left out, its port may be 0),
 * or, `dialled`, where the other nodes dial it (a host, and a port 1-65535).
 */
function checkAddress(name: string, value: unknown, dialled: boolean): void {
  const parts = typeof value === 'string' ? splitHostPort(value) : undefined;
  const port = Number(parts?.port);
  const lowest = dialled ? 1 : 0;
  if (!parts || (dialled && !parts.host) || port < lowest || port > 65_535) {
    throw new InvalidOptionError(`cluster ${name} ${JSON.stringify(value)} must be host:port, the port ${lowest}-65535${typeof value === 'string' ? bracketHint(value) : ''}`);
  }
}

/**
 * Checks and completes cluster options.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` naming the option.
 */
export function resolveClusterOptions(options: ClusterOptions): ResolvedClusterOptions {
  if (typeof options.url !== 'string') {
    throw new InvalidOptionError('cluster url must be redis://, rediss://, redis+sentinel:// or redis+cluster://');
  }
  // The scheme and the host lists, refused here, before the relay listens, rather than when the
  // registry connects.
  parseRedisUrl(options.url);
  if (typeof options.nodeId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(options.nodeId)) {
    throw new InvalidOptionError(`cluster nodeId ${JSON.stringify(options.nodeId)} must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  checkAddress('nodeListen', options.nodeListen, false);
  if (options.nodeAdvertise !== undefined) checkAddress('nodeAdvertise', options.nodeAdvertise, true);
  const leaseTtl = parseMilliseconds(options.leaseTtl ?? DEFAULT_LEASE_TTL, 'cluster leaseTtl');
  if (leaseTtl < 300) throw new InvalidOptionError('cluster leaseTtl must be at least 300 ms');
  return {
    url: options.url,
    nodeId: options.nodeId,
    nodeListen: options.nodeListen,
    nodeAdvertise: options.nodeAdvertise,
    nodeTls: options.nodeTls ?? false,
    leaseTtl,
    leaseGrace: parseMilliseconds(options.leaseGrace ?? DEFAULT_LEASE_GRACE, 'cluster leaseGrace', true),
    drainTimeout: parseMilliseconds(options.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT, 'cluster drainTimeout', true),
  };
}
