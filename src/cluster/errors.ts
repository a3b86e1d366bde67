import { MproxyError } from '../codec/errors.js';

/** Codes raised by a relay cluster node; see `docs/errors.md` and `docs/cluster.md`. */
export type ClusterErrorCode =
  | 'E_NODE_AUTH'
  | 'E_NODE_UNREACHABLE'
  | 'E_NODE_ID_TAKEN'
  | 'E_REDIS_UNAVAILABLE'
  | 'E_LEASE_LOST'
  | 'E_LEASE_WAIT'
  | 'E_DRAINING';

/** A failure of the cluster layer of a relay (Redis, leases, node-to-node links). */
export class ClusterError extends MproxyError {
  constructor(code: ClusterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
