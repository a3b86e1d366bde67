/**
 * Where the registry keeps things in Redis. Every key carries the hash tag `{mproxy}`, so that
 * they all fall in one slot and the scripts that touch several keys run on Redis Cluster too.
 */
export const PREFIX = 'mproxy:{mproxy}:';
/** Lease `kind:id` (e.g. `name:app.example.com`, `tcp:5050`) → its JSON value, with a TTL. */
export const leaseKey = (lease: string): string => `${PREFIX}lease:${lease}`;
/** The fencing counter: every lease taken anew gets the next value. */
export const EPOCH_KEY = `${PREFIX}epoch`;
/** Hash of the lease ids ever taken, so that they can be listed without SCAN (pruned as they lapse). */
export const LEASE_INDEX = `${PREFIX}leases`;
/** Node id → its record (JSON: address, TLS, draining), with a TTL. */
export const nodeKey = (node: string): string => `${PREFIX}node:${node}`;
/** Hash of the node ids ever registered (pruned as their records lapse). */
export const NODE_INDEX = `${PREFIX}nodes`;
/** Where lease changes are announced. */
export const EVENTS_CHANNEL = `${PREFIX}events`;

/** What a lease covers. */
export type LeaseKind = 'name' | 'tcp' | 'udp';

/** The lease id of a name or a port. */
export function leaseId(kind: LeaseKind, what: string | number): string {
  return `${kind}:${String(what)}`;
}
