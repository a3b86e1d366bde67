/**
 * Which device sessions hold which names and ports, and under whose token.
 *
 * **Sharing rule.** Two grants have the same owner when their token strings are identical, or
 * when both have a subject and the subjects are equal. Sessions whose grants have the same owner
 * share a name or port (the relay round-robins between them: a device that reconnects before its
 * old socket is known dead, or several replicas of one service). A name or port held by another
 * session under a grant of a different owner is refused (`E_NAME_TAKEN`, `E_PORT_TAKEN`). A grant
 * without a subject is its own owner: telebit tokens carry no `sub`, so two devices presenting
 * the *same* telebit token share, two different subject-less tokens for one name do not.
 *
 * Only identical names conflict: a session holding `*.example.com` does not keep another owner
 * from taking `app.example.com`, which then wins by being exact (see {@link GrantRegistry.sessionsFor}).
 * Grants within one session never conflict with each other.
 *
 * **Expiry.** A grant whose `expiresAt` is at or before the registry's clock is evicted before
 * every lookup and every `add`, so an expired grant neither routes nor blocks anyone.
 */
import { AuthError } from './errors.js';
import { normalizeName, wildcardCandidates } from './names.js';
import type { Grant } from './token.js';

/** What a session gained or lost. */
export interface NamesAndPorts {
  /** Names the session did not hold before (for `add`) or no longer holds (for removals). */
  readonly names: string[];
  /** Ports, likewise. */
  readonly ports: number[];
}

/** What a removal took away. */
export interface Released extends NamesAndPorts {
  /** How many grants were removed (0 when the token was not held by the session). */
  readonly grants: number;
}

/** A grant the registry evicted because it expired. */
export interface ExpiredGrant extends NamesAndPorts {
  readonly sessionId: string;
  readonly grant: Grant;
}

/** Options of {@link GrantRegistry}. */
export interface GrantRegistryOptions {
  /** The clock grants expire by. Default: `() => new Date()`. */
  now?: () => Date;
  /**
   * Called, after the registry is consistent again, for each grant evicted because it expired,
   * so that the relay can close the visitors and listeners of what the session lost.
   */
  onExpire?: (expired: ExpiredGrant) => void;
  /**
   * Whether a name or port held under one owner is refused to another (`E_NAME_TAKEN`,
   * `E_PORT_TAKEN`). Default true. A cluster node sets false: there the cluster's lease decides
   * which owner is served, and a device waits for it rather than being refused.
   */
  exclusive?: boolean;
}

/** The sessions holding one name or port, with how many of each session's grants cover it. */
type Holders<K> = Map<K, Map<string, number>>;

/** Tracks the grants of every device session; see the module comment for the rules. */
export class GrantRegistry {
  private readonly now: () => Date;
  private readonly onExpire: ((expired: ExpiredGrant) => void) | undefined;
  private readonly exclusive: boolean;
  /** Session id → its grants, in the order they were added. */
  private readonly sessions = new Map<string, Grant[]>();
  /** Insertion-ordered maps, so that holders come back in the order they took the name. */
  private readonly names: Holders<string> = new Map();
  private readonly ports: Holders<number> = new Map();
  /** Earliest `expiresAt` of any held grant, in ms; lets lookups skip the sweep almost always. */
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(options: GrantRegistryOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.onExpire = options.onExpire;
    this.exclusive = options.exclusive ?? true;
  }

  /**
   * Adds a grant to a session, all or nothing. Pass the grant with only the ports the relay's
   * policy opens (see `grantedPorts`). Adding a token the session already holds changes nothing.
   *
   * @returns the names and ports the session did not hold before.
   * @throws AuthError `E_NAME_TAKEN` / `E_PORT_TAKEN` when another session holds one of them
   *   under a different owner; `E_TOKEN_EXPIRED` when the grant has already expired.
   */
  add(sessionId: string, grant: Grant): NamesAndPorts {
    this.evictExpired();
    const now = this.now().getTime();
    if (grant.expiresAt !== undefined && grant.expiresAt.getTime() <= now) {
      throw new AuthError('E_TOKEN_EXPIRED', 'token has expired');
    }
    const normalized: Grant = { ...grant, domains: unique(grant.domains.map(normalizeName)), ports: unique(grant.ports) };
    for (const name of normalized.domains) {
      if (this.conflicts(this.names.get(name), sessionId, normalized, (g) => g.domains.includes(name))) {
        throw new AuthError('E_NAME_TAKEN', `name ${JSON.stringify(name)} is held by another device under a different token`);
      }
    }
    for (const port of normalized.ports) {
      if (this.conflicts(this.ports.get(port), sessionId, normalized, (g) => g.ports.includes(port))) {
        throw new AuthError('E_PORT_TAKEN', `port ${port} is held by another device under a different token`);
      }
    }

    const grants = this.sessions.get(sessionId) ?? [];
    if (grants.some((g) => g.token === normalized.token)) return { names: [], ports: [] };
    grants.push(normalized);
    this.sessions.set(sessionId, grants);
    if (normalized.expiresAt !== undefined) this.nextExpiry = Math.min(this.nextExpiry, normalized.expiresAt.getTime());
    return {
      names: normalized.domains.filter((name) => increment(this.names, name, sessionId)),
      ports: normalized.ports.filter((port) => increment(this.ports, port, sessionId)),
    };
  }

  /**
   * Removes from a session the grant of one token (`delete_token`), or all of its grants with
   * `'*'`. A token the session does not hold removes nothing (`grants: 0`).
   *
   * @returns the names and ports the session no longer holds.
   */
  remove(sessionId: string, token: string): Released {
    const grants = this.sessions.get(sessionId);
    if (grants === undefined) return { grants: 0, names: [], ports: [] };
    const wanted = token.trim();
    const removed = grants.filter((g) => wanted === '*' || g.token === wanted);
    return this.release(sessionId, removed);
  }

  /** Forgets a session (its device disconnected). @returns what it held. */
  removeSession(sessionId: string): Released {
    return this.remove(sessionId, '*');
  }

  /**
   * The sessions that serve `name`: those holding it exactly, else those holding the longest
   * wildcard that matches it (`*.b.example.com` before `*.example.com`), else none. Only the
   * most specific tier is returned, never a mix: an exact holder shadows every wildcard.
   * Sessions come in the order they took the name, for round-robin.
   */
  sessionsFor(name: string): string[] {
    this.evictExpired();
    const normalized = normalizeName(name);
    for (const pattern of [normalized, ...wildcardCandidates(normalized)]) {
      const holders = this.names.get(pattern);
      if (holders !== undefined) return [...holders.keys()];
    }
    return [];
  }

  /** The sessions holding `port`, in the order they took it. */
  sessionsForPort(port: number): string[] {
    this.evictExpired();
    return [...(this.ports.get(port)?.keys() ?? [])];
  }

  /** The unexpired grants of a session, in the order they were added. */
  grantsOf(sessionId: string): Grant[] {
    this.evictExpired();
    return [...(this.sessions.get(sessionId) ?? [])];
  }

  /** When the next held grant expires, so that the relay can schedule {@link evictExpired}. */
  nextExpiryAt(): Date | undefined {
    return Number.isFinite(this.nextExpiry) ? new Date(this.nextExpiry) : undefined;
  }

  /**
   * Evicts every grant that has expired by the registry's clock, reports each to `onExpire`,
   * and returns them. Lookups call it themselves; call it from a timer to act on expiry promptly.
   */
  evictExpired(): ExpiredGrant[] {
    const now = this.now().getTime();
    if (now < this.nextExpiry) return [];
    const expired: ExpiredGrant[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [sessionId, grants] of [...this.sessions]) {
      for (const grant of grants) {
        const at = grant.expiresAt?.getTime();
        if (at === undefined) continue;
        if (at <= now) expired.push({ sessionId, grant, ...this.release(sessionId, [grant]) });
        else next = Math.min(next, at);
      }
    }
    this.nextExpiry = next;
    // Callbacks run last, so that one that looks the registry up sees it consistent.
    if (this.onExpire !== undefined) for (const event of expired) this.onExpire(event);
    return expired;
  }

  private conflicts(
    holders: Map<string, number> | undefined,
    sessionId: string,
    grant: Grant,
    covers: (g: Grant) => boolean,
  ): boolean {
    if (!this.exclusive) return false;
    for (const holder of holders?.keys() ?? []) {
      if (holder === sessionId) continue;
      const others = this.sessions.get(holder) ?? [];
      if (others.some((other) => covers(other) && !sameOwner(other, grant))) return true;
    }
    return false;
  }

  private release(sessionId: string, removed: readonly Grant[]): Released {
    const grants = this.sessions.get(sessionId);
    if (grants === undefined || removed.length === 0) return { grants: 0, names: [], ports: [] };
    const kept = grants.filter((g) => !removed.includes(g));
    if (kept.length === 0) this.sessions.delete(sessionId);
    else this.sessions.set(sessionId, kept);
    const names: string[] = [];
    const ports: number[] = [];
    for (const grant of removed) {
      for (const name of grant.domains) if (decrement(this.names, name, sessionId)) names.push(name);
      for (const port of grant.ports) if (decrement(this.ports, port, sessionId)) ports.push(port);
    }
    return { grants: removed.length, names, ports };
  }
}

/** Same owner: identical tokens, or equal subjects where both have one. */
function sameOwner(a: Grant, b: Grant): boolean {
  return a.token === b.token || (a.subject !== undefined && a.subject === b.subject);
}

/** Counts one more grant of `sessionId` covering `key`; true when the session did not hold it. */
function increment<K>(holders: Holders<K>, key: K, sessionId: string): boolean {
  let counts = holders.get(key);
  if (counts === undefined) {
    counts = new Map();
    holders.set(key, counts);
  }
  const count = counts.get(sessionId) ?? 0;
  counts.set(sessionId, count + 1);
  return count === 0;
}

/** Counts one grant fewer; true when the session no longer holds `key`. */
function decrement<K>(holders: Holders<K>, key: K, sessionId: string): boolean {
  const counts = holders.get(key);
  const count = counts?.get(sessionId);
  if (counts === undefined || count === undefined) return false;
  if (count > 1) {
    counts.set(sessionId, count - 1);
    return false;
  }
  counts.delete(sessionId);
  if (counts.size === 0) holders.delete(key);
  return true;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
