import { LEASE_INDEX, NODE_INDEX, PREFIX } from './keys.js';
import { listIndex, type LeaseHolder, type NodeRecord } from './leases.js';
import { connectRedis } from './redis.js';
import { ClusterError } from './errors.js';

/** A cluster as its registry says it is now. */
export interface ClusterStatus {
  /** The nodes registered (their record is renewed by their heartbeat). */
  readonly nodes: readonly (NodeRecord & { readonly ttl: number })[];
  /** Every lease: `kind` is `name`, `tcp` or `udp`; `what` the name or port. */
  readonly leases: readonly (LeaseHolder & { readonly kind: string; readonly what: string; readonly ttl: number })[];
}

/**
 * Reads the nodes and leases of a cluster from its Redis (what `mproxy cluster status` prints).
 * @throws {ClusterError} `E_REDIS_UNAVAILABLE` when Redis does not answer within `timeout` ms.
 */
export async function readClusterStatus(url: string, timeout = 5_000): Promise<ClusterStatus> {
  const redis = connectRedis(url, 'mproxy-status');
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => (lastError = error));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ClusterError('E_REDIS_UNAVAILABLE', `no answer from the cluster registry${lastError ? `: ${lastError.message}` : ''}`)),
        timeout,
      );
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const nodes = (await listIndex(redis, NODE_INDEX, `${PREFIX}node:`)).map(({ raw, ttl }) => ({ ...(JSON.parse(raw) as NodeRecord), ttl }));
    const leases = (await listIndex(redis, LEASE_INDEX, `${PREFIX}lease:`)).map(({ id, raw, ttl }) => {
      const at = id.indexOf(':');
      return { kind: id.slice(0, at), what: id.slice(at + 1), ...(JSON.parse(raw) as LeaseHolder), ttl };
    });
    nodes.sort((a, b) => a.id.localeCompare(b.id));
    leases.sort((a, b) => a.kind.localeCompare(b.kind) || a.what.localeCompare(b.what, undefined, { numeric: true }));
    return { nodes, leases };
  } finally {
    redis.disconnect();
  }
}
