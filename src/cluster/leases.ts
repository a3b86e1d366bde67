import { randomUUID } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import type { Logger } from '../logger.js';
import { ClusterError } from './errors.js';
import { EPOCH_KEY, EVENTS_CHANNEL, LEASE_INDEX, NODE_INDEX, PREFIX, leaseKey, nodeKey } from './keys.js';
import { connectRedis, redactUrl, type RedisClient } from './redis.js';
import { CLAIM, LET_GO, LIST, REGISTER, RENEW } from './scripts.js';

/** Who holds a lease. */
export interface LeaseHolder {
  /** The node that holds it. */
  readonly node: string;
  /** The device owner it is held for (a token's subject, or a hash of the token). */
  readonly owner: string;
  /** The fencing epoch it was taken under: higher is newer. */
  readonly epoch: number;
  /** `live`, or `grace` while its device is away. */
  readonly state: 'live' | 'grace';
}

/** A node as it registered itself. */
export interface NodeRecord {
  readonly id: string;
  /** Where other nodes dial it (`host:port`). */
  readonly address: string;
  /** Whether its node-to-node endpoint speaks TLS. */
  readonly tls: boolean;
  /** True while it drains: it takes nothing new. */
  readonly draining: boolean;
  /** The process that wrote it (random at each start): two processes given one node id are told apart. */
  readonly instance?: string;
}

/** Options of {@link LeaseRegistry}. */
export interface LeaseRegistryOptions {
  readonly url: string;
  readonly nodeId: string;
  /** Lease time to live (ms); the heartbeat runs every third of it. */
  readonly ttl: number;
  /** How long a lease waits for its device after it drops (ms); 0: released at once. */
  readonly grace: number;
  /** This node's record, as registered at each heartbeat. */
  readonly record: () => NodeRecord;
  readonly log: Logger;
}

interface Held {
  epoch: number;
  owner: string;
  state: 'live' | 'grace';
  timer?: NodeJS.Timeout;
}


/** What a lease script publishes on EVENTS_CHANNEL. */
export interface Announcement {
  readonly t: 'claim' | 'grace' | 'release';
  readonly k: string;
  readonly node: string;
  readonly epoch: number;
  readonly owner: string;
  readonly ttl: number;
}

/** A table entry and when it lapses (ms since the epoch). */
export interface Cached<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/**
 * Applies one announcement to a node's copy of the lease table. One about an older epoch than
 * the entry's is stale (the lease was taken again since) and changes nothing.
 * @internal
 */
export function applyAnnouncement(leases: Map<string, Cached<LeaseHolder>>, event: Announcement, now: number): void {
  const current = leases.get(event.k);
  if (current && current.value.epoch > event.epoch) return;
  if (event.t === 'release') leases.delete(event.k);
  else {
    const state = event.t === 'grace' ? 'grace' : 'live';
    leases.set(event.k, { value: { node: event.node, owner: event.owner, epoch: event.epoch, state }, expiresAt: now + event.ttl });
  }
}

/**
 * The cluster's lease registry, as one node sees it. Leases are Redis keys taken with a script
 * (check and `SET … PX` in one step), renewed by a heartbeat, fenced by an epoch; changes are
 * announced on pub/sub and every node keeps a copy of the table, refreshed at each heartbeat
 * for what pub/sub cannot tell (a lease that lapsed because its node died). Routing reads the
 * copy only: no visitor waits on Redis, and while Redis is down the node goes on serving what
 * it holds. See docs/cluster.md.
 */
export class LeaseRegistry {
  readonly #options: LeaseRegistryOptions;
  readonly #log: Logger;
  readonly #redis: RedisClient;
  readonly #sub: RedisClient;
  /** id → owner → how many local grants want it. */
  readonly #wants = new Map<string, Map<string, number>>();
  readonly #held = new Map<string, Held>();
  readonly #leases = new Map<string, Cached<LeaseHolder>>();
  readonly #nodes = new Map<string, Cached<NodeRecord>>();
  readonly #claiming = new Set<string>();
  /** Ids whose wait for another holder was logged (once per wait). */
  readonly #waitLogged = new Set<string>();
  readonly #changed = new Subject<void>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #state: 'connecting' | 'up' | 'down' = 'connecting';
  #closed = false;
  #frozen = false;
  readonly #instance = randomUUID();
  /**
   * Whether this node's id is its own in Redis: unknown until its record is first written;
   * `taken` while another process's record holds it (see #register), when it joins nothing.
   */
  #identity: 'unknown' | 'mine' | 'taken' = 'unknown';
  /** Announcements heard while #sync reads the table, to apply again on what it read. */
  #heardDuringSync: Announcement[] | undefined;

  /** Emits when the table or what this node holds changed (ports to listen on may differ). */
  readonly changed$: Observable<void> = this.#changed.asObservable();

  constructor(options: LeaseRegistryOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#redis = connectRedis(options.url, `mproxy-${options.nodeId}`);
    this.#sub = connectRedis(options.url, `mproxy-${options.nodeId}-events`);
    this.#redis.on('error', (error: Error) => this.#down(error));
    this.#sub.on('error', () => undefined);
    this.#redis.on('ready', () => this.#up());
    this.#redis.on('close', () => this.#down());
    this.#sub.on('ready', () => {
      void (this.#sub as { subscribe(channel: string): Promise<unknown> }).subscribe(EVENTS_CHANNEL).then(
        // Announcements missed while unsubscribed are caught up by a sync.
        () => this.#kick(),
        () => undefined,
      );
    });
    this.#sub.on('message', (_channel: string, message: string) => this.#onAnnouncement(message));
    this.#timer = setInterval(() => this.#kick(), Math.max(100, Math.floor(options.ttl / 3)));
    this.#timer.unref();
  }

  /** True while Redis answers. */
  get connected(): boolean {
    return this.#state === 'up';
  }

  /** The ids this node holds now, live or in grace. */
  get held(): ReadonlyMap<string, { readonly epoch: number; readonly owner: string; readonly state: 'live' | 'grace' }> {
    return this.#held;
  }

  /** A local device of `owner` serves `id`: claim it (now, and at each heartbeat until held). */
  want(id: string, owner: string): void {
    const owners = this.#wants.get(id) ?? new Map<string, number>();
    owners.set(owner, (owners.get(owner) ?? 0) + 1);
    this.#wants.set(id, owners);
    void this.#claim(id);
  }

  /** A local device of `owner` no longer serves `id`: once none does, its lease goes to grace. */
  unwant(id: string, owner: string): void {
    const owners = this.#wants.get(id);
    const count = owners?.get(owner);
    if (!owners || count === undefined) return;
    if (count > 1) return void owners.set(owner, count - 1);
    owners.delete(owner);
    if (owners.size === 0) this.#wants.delete(id);
    const held = this.#held.get(id);
    if (held && held.owner === owner && held.state === 'live') void this.#letGo(id, held, this.#options.grace);
  }

  /** Who holds `id`, as far as this node knows; undefined when nobody (or it lapsed). */
  holderOf(id: string): LeaseHolder | undefined {
    const held = this.#held.get(id);
    if (held) return { node: this.#options.nodeId, owner: held.owner, epoch: held.epoch, state: held.state };
    const cached = this.#leases.get(id);
    if (cached && this.#fresh(cached) && cached.value.node !== this.#options.nodeId) return cached.value;
    return undefined;
  }

  /**
   * Whether a copied entry still stands. While Redis is unreachable no lease can change hands,
   * so the last table known stands as it is: the nodes go on forwarding to each other.
   */
  #fresh(cached: Cached<unknown>): boolean {
    return !this.connected || cached.expiresAt > Date.now();
  }

  /** Every lease this node knows of, with its holder. */
  leases(): Map<string, LeaseHolder> {
    const out = new Map<string, LeaseHolder>();
    for (const [id, cached] of this.#leases) if (this.#fresh(cached) && cached.value.node !== this.#options.nodeId) out.set(id, cached.value);
    for (const id of this.#held.keys()) out.set(id, this.holderOf(id) as LeaseHolder);
    return out;
  }

  /** A node's record: from the table, else read from Redis. */
  async node(id: string): Promise<NodeRecord | undefined> {
    const cached = this.#nodes.get(id);
    if (cached && this.#fresh(cached)) return cached.value;
    const raw = await this.#redis.get(nodeKey(id)).catch(() => null);
    const record = raw ? parseJson<NodeRecord>(raw) : undefined;
    if (record) this.#nodes.set(id, { value: record, expiresAt: Date.now() + this.#options.ttl });
    return record;
  }

  /**
   * Drain: every lease this node holds goes to grace, so that the same device, on another node,
   * takes it at once and nobody else can; no new claims are made from now on.
   */
  async handOver(): Promise<void> {
    this.#frozen = true;
    this.#wants.clear();
    await this.#register().catch(() => undefined);
    await Promise.all(
      [...this.#held].filter(([, held]) => held.state === 'live').map(([id, held]) => this.#letGo(id, held, Math.max(this.#options.grace, this.#options.ttl))),
    );
  }

  /** Stops: the heartbeat ends and the node's record is removed (its leases lapse or were handed over). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const held of this.#held.values()) if (held.timer) clearTimeout(held.timer);
    await this.#beating?.catch(() => undefined);
    // Not the record of another process that holds this node's id.
    if (this.connected && this.#identity === 'mine') await this.#redis.del(nodeKey(this.#options.nodeId)).catch(() => undefined);
    this.#redis.disconnect();
    this.#sub.disconnect();
    this.#changed.complete();
  }

  // Redis state

  #up(): void {
    if (this.#closed) return;
    if (this.#state !== 'up') this.#log.info({ url: redactUrl(this.#options.url) }, 'cluster registry connected');
    this.#state = 'up';
    this.#kick();
  }

  #down(error?: Error): void {
    if (this.#closed || this.#state === 'down') return;
    const was = this.#state;
    this.#state = 'down';
    this.#log.warn(
      { url: redactUrl(this.#options.url), code: 'E_REDIS_UNAVAILABLE', err: error?.message },
      was === 'connecting'
        ? 'cluster registry unreachable: no names are served until it answers; retrying'
        : 'cluster registry unreachable: serving the names held, new claims wait; retrying',
    );
  }

  // Heartbeat

  /** Runs a heartbeat now unless one is running. */
  #kick(): void {
    if (this.#closed || this.#beating || !this.connected) return;
    this.#beating = this.#beat()
      .catch((error: unknown) => this.#log.debug({ err: (error as Error).message }, 'cluster heartbeat failed'))
      .finally(() => {
        this.#beating = undefined;
      });
  }

  async #beat(): Promise<void> {
    if (!(await this.#register())) return;
    for (const [id, held] of [...this.#held]) {
      if (held.state !== 'live') continue;
      const [status, value] = (await this.#eval(RENEW, id, this.#options.nodeId, held.owner, String(held.epoch), String(this.#options.ttl))) as [number, string | number];
      if (this.#held.get(id) !== held) continue;
      if (status === 2) {
        held.epoch = Number(value);
        this.#log.info({ lease: id, epoch: held.epoch }, 'lease taken again after it lapsed');
      } else if (status === 0) {
        this.#lost(id, parseJson<LeaseHolder>(String(value)));
      }
    }
    if (!this.#frozen) for (const id of this.#wants.keys()) if (!this.#isLive(id)) await this.#claim(id);
    await this.#sync();
    this.#changed.next();
  }

  /**
   * Writes this node's record, unless another process's record holds the same node id: two
   * relays given one `--node-id` would take each other's leases and links. The second one then
   * holds, claims and routes nothing until the id is free (the other stopped, or its record
   * lapsed after a crash), and says so once. Returns whether the record is this node's.
   */
  async #register(): Promise<boolean> {
    const record: NodeRecord = { ...this.#options.record(), instance: this.#instance };
    const taken = (await this.#redis.eval(REGISTER, 2, nodeKey(record.id), NODE_INDEX, record.id, JSON.stringify(record), String(this.#options.ttl))) as [string, number] | null;
    if (taken && this.#identity !== 'taken') {
      const other = parseJson<NodeRecord>(taken[0]);
      this.#log.error(
        { code: 'E_NODE_ID_TAKEN', address: other?.address },
        `node id ${record.id} is taken by another relay at ${other?.address ?? '?'} (its record lives ${Math.ceil(taken[1] / 1000)} s more): this node joins the cluster once the id is free; give every node its own --node-id`,
      );
      // What it held or knew (it was cut off, and the id went to another process meanwhile)
      // is that process's now: given up, not renewed.
      for (const held of this.#held.values()) if (held.timer) clearTimeout(held.timer);
      this.#held.clear();
      this.#leases.clear();
      this.#nodes.clear();
      this.#changed.next();
    } else if (!taken && this.#identity === 'taken') {
      this.#log.info({ address: record.address }, `node id ${record.id} is free: this node joins the cluster`);
    }
    this.#identity = taken ? 'taken' : 'mine';
    return !taken;
  }

  /** Reads the whole table: what pub/sub could not say (lapsed leases, missed announcements). */
  async #sync(): Promise<void> {
    const now = Date.now();
    // Pub/sub has its own connection: an announcement can come in while the read is on its way
    // back and describe a change the read did not see. It is applied again on what was read,
    // else it would be lost until the next heartbeat.
    const heard: Announcement[] = [];
    this.#heardDuringSync = heard;
    let leases: Awaited<ReturnType<typeof listIndex>>;
    let nodes: Awaited<ReturnType<typeof listIndex>>;
    try {
      leases = await this.#list(LEASE_INDEX, `${PREFIX}lease:`);
      nodes = await this.#list(NODE_INDEX, `${PREFIX}node:`);
    } finally {
      this.#heardDuringSync = undefined;
    }
    this.#leases.clear();
    for (const { id, raw, ttl } of leases) {
      const value = parseJson<LeaseHolder>(raw);
      if (value) this.#leases.set(id, { value, expiresAt: now + ttl });
    }
    for (const event of heard) applyAnnouncement(this.#leases, event, now);
    this.#nodes.clear();
    for (const { id, raw, ttl } of nodes) {
      const value = parseJson<NodeRecord>(raw);
      if (value) this.#nodes.set(id, { value, expiresAt: now + ttl });
    }
  }

  async #list(index: string, prefix: string): Promise<{ id: string; raw: string; ttl: number }[]> {
    return listIndex(this.#redis, index, prefix);
  }

  // Claims

  #isLive(id: string): boolean {
    return this.#held.get(id)?.state === 'live';
  }

  /** Tries to take `id` for the first owner that wants it (one try in flight per id). */
  async #claim(id: string): Promise<void> {
    if (this.#frozen || this.#identity !== 'mine' || !this.connected || this.#claiming.has(id) || this.#isLive(id)) return;
    this.#claiming.add(id);
    try {
      for (const owner of this.#wants.get(id)?.keys() ?? []) {
        if (this.#identity !== 'mine') return;
        const [status, value] = (await this.#eval(CLAIM, id, this.#options.nodeId, owner, String(this.#options.ttl))) as [number, string | number];
        if (status === 1) {
          const previous = this.#held.get(id);
          if (previous?.timer) clearTimeout(previous.timer);
          this.#held.set(id, { epoch: Number(value), owner, state: 'live' });
          this.#waitLogged.delete(id);
          this.#log.info({ lease: id, epoch: Number(value) }, 'lease held');
          this.#changed.next();
          return;
        }
        const holder = parseJson<LeaseHolder>(String(value));
        if (holder && !this.#waitLogged.has(id)) {
          this.#waitLogged.add(id);
          const standby = holder.owner === owner && holder.node !== this.#options.nodeId;
          this.#log.info(
            { lease: id, holder: holder.node, state: holder.state, code: standby ? undefined : 'E_LEASE_WAIT' },
            standby ? 'standby: the same device holds this lease on another node' : 'lease held by another device: waiting for it to lapse',
          );
        }
      }
    } catch (error) {
      this.#log.debug({ lease: id, err: (error as Error).message }, 'claim failed');
    } finally {
      this.#claiming.delete(id);
    }
  }

  async #letGo(id: string, held: Held, grace: number): Promise<void> {
    if (grace > 0) {
      held.state = 'grace';
      if (held.timer) clearTimeout(held.timer);
      held.timer = setTimeout(() => {
        if (this.#held.get(id) === held && held.state === 'grace') {
          this.#held.delete(id);
          this.#changed.next();
        }
      }, grace);
      held.timer.unref();
    } else {
      this.#held.delete(id);
    }
    this.#changed.next();
    if (!this.connected) return;
    await this.#eval(LET_GO, id, this.#options.nodeId, String(held.epoch), String(grace)).catch(() => undefined);
  }

  #lost(id: string, holder: LeaseHolder | undefined): void {
    const held = this.#held.get(id);
    if (held?.timer) clearTimeout(held.timer);
    this.#held.delete(id);
    if (held && holder?.owner === held.owner) {
      // The same device took it on another node (it is on both, or moved): a hand-over, not a loss.
      this.#log.info({ lease: id, holder: holder.node }, 'standby: the same device holds this lease on another node now');
    } else {
      const error = new ClusterError('E_LEASE_LOST', `lease ${id} is held by node ${holder?.node ?? '?'} now`);
      this.#log.warn({ lease: id, holder: holder?.node, code: error.code }, 'lease lost to another node: given up');
    }
    this.#changed.next();
  }

  #onAnnouncement(message: string): void {
    const event = parseJson<Announcement>(message);
    // A node whose id another process holds routes nothing (see #register).
    if (!event || typeof event.k !== 'string' || this.#identity === 'taken') return;
    const self = this.#options.nodeId;
    this.#heardDuringSync?.push(event);
    applyAnnouncement(this.#leases, event, Date.now());
    const held = this.#held.get(event.k);
    if (event.t === 'claim' && event.node !== self && held && event.epoch > held.epoch) {
      this.#lost(event.k, { node: event.node, owner: event.owner, epoch: event.epoch, state: 'live' });
    }
    if (event.t !== 'claim' && this.#wants.has(event.k) && !this.#isLive(event.k)) void this.#claim(event.k);
    this.#changed.next();
  }

  #eval(script: string, id: string, ...args: string[]): Promise<unknown> {
    return this.#redis.eval(script, 3, leaseKey(id), EPOCH_KEY, LEASE_INDEX, id, EVENTS_CHANNEL, ...args);
  }
}

/** Lists an index with the value and remaining TTL of each live entry (see the LIST script). */
export async function listIndex(redis: RedisClient, index: string, prefix: string): Promise<{ id: string; raw: string; ttl: number }[]> {
  const flat = (await redis.eval(LIST, 1, index, prefix)) as (string | number)[];
  const out: { id: string; raw: string; ttl: number }[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) out.push({ id: String(flat[i]), raw: String(flat[i + 1]), ttl: Number(flat[i + 2]) });
  return out;
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

