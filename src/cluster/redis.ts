import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { lazyModule } from '../lazy-module.js';
import { InvalidOptionError } from '../codec/errors.js';
import { splitHostPort } from '../transport/host-port.js';
import { bracketHint } from '../address-hint.js';

const ioredis = lazyModule<typeof import('ioredis')>('ioredis');

/** How often a Redis Cluster client reads the slot map again. */
const SLOTS_REFRESH_MS = 5_000;

/** A Redis client of either kind: both speak the commands the registry uses. */
export type RedisClient = Redis | Cluster;

/** A `redis+sentinel://` or `redis+cluster://` URL taken apart. */
export interface RedisTopologyUrl {
  readonly protocol: 'redis+sentinel:' | 'redis+cluster:';
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The Sentinel master's name (the path); empty for a cluster. */
  readonly master: string;
  /** The Sentinels' own user and password (`?sentinelUsername=…&sentinelPassword=…`), when they require one. */
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
}

/** The query parameters each topology takes. */
const PARAMETERS: Record<RedisTopologyUrl['protocol'], readonly string[]> = {
  'redis+sentinel:': ['sentinelUsername', 'sentinelPassword'],
  'redis+cluster:': [],
};

/** The URL without its passwords (the user's, and a `?sentinelPassword=`), for logs and messages. */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/*)([^@/?#]*)@/i, (_match, scheme: string, user: string) => `${scheme}${user.includes(':') ? `${user.slice(0, user.indexOf(':'))}:***` : user}@`)
    .replace(/([?&][A-Za-z]*[Pp]assword=)[^&#]*/g, '$1***');
}

/**
 * Takes a registry URL apart; undefined for `redis://` and `rediss://`, which ioredis reads
 * itself. Not with `new URL`: it takes one host, and refuses the host lists of Sentinel and
 * Cluster.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for an unknown scheme, an entry that is not
 * `host:port`, a Sentinel URL without its master, or a query parameter the topology does not take.
 */
export function parseRedisUrl(url: string): RedisTopologyUrl | undefined {
  const parsed = /^([a-z+]+:)\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?/.exec(url);
  const protocol = parsed?.[1];
  if (protocol === 'redis:' || protocol === 'rediss:') {
    // ioredis reads these itself, and would say only "Invalid URL".
    if (URL.canParse(url)) return undefined;
    throw new InvalidOptionError(`cluster url ${JSON.stringify(redactUrl(url))} is not a URL such as redis://10.0.0.5:6379${bracketHint(url)}`);
  }
  if (!parsed || (protocol !== 'redis+sentinel:' && protocol !== 'redis+cluster:')) {
    throw new InvalidOptionError(`cluster url ${JSON.stringify(redactUrl(url))} must be redis://, rediss://, redis+sentinel:// or redis+cluster://`);
  }
  const [, , userinfo = '', hostList = '', path = '', query = ''] = parsed;
  const hosts = hostList
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      // A host without a port is Redis's own port, as ioredis takes it.
      const parts = splitHostPort(entry) ?? splitHostPort(`${entry}:6379`);
      const port = Number(parts?.port);
      if (!parts?.host || port < 1 || port > 65_535) {
        throw new InvalidOptionError(`cluster url: ${JSON.stringify(entry)} is not host:port${bracketHint(entry)}`);
      }
      return { host: parts.host, port };
    });
  if (hosts.length === 0) throw new InvalidOptionError(`a ${protocol}// URL lists host:port[,host:port…]`);
  const master = decode(path.replace(/^\//, ''));
  if (protocol === 'redis+sentinel:' && !master) {
    throw new InvalidOptionError('a redis+sentinel:// URL names the master: redis+sentinel://host:port/MASTER');
  }
  const colon = userinfo.indexOf(':');
  return {
    protocol,
    hosts,
    username: decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo) || undefined,
    password: (colon >= 0 && decode(userinfo.slice(colon + 1))) || undefined,
    master,
    ...parameters(protocol, query),
  };
}

/**
 * The query's parameters, each known to the topology. Decoded as the user and password are
 * (`%2B` for a `+`: a `+` is kept as it is, not read as a space).
 */
function parameters(protocol: RedisTopologyUrl['protocol'], query: string): Record<string, string> {
  const known = PARAMETERS[protocol];
  const found: Record<string, string> = {};
  for (const pair of query.split('&').filter(Boolean)) {
    const at = pair.indexOf('=');
    const name = at >= 0 ? pair.slice(0, at) : pair;
    if (!known.includes(name)) {
      const takes = known.length > 0 ? `takes ${known.join(' and ')}` : 'takes no parameters';
      throw new InvalidOptionError(`cluster url: a ${protocol}// URL ${takes}, not ${JSON.stringify(name)}`);
    }
    found[name] = decode(at >= 0 ? pair.slice(at + 1) : '');
  }
  return found;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new InvalidOptionError('cluster url: a %-escape in its user, password, master or a parameter is malformed');
  }
}

/**
 * Connects to the registry's Redis. Commands fail at once while it is unreachable (no offline
 * queue: the registry retries on its own heartbeat, and a visitor must never wait on Redis);
 * the client reconnects with backoff up to 1 s.
 */
export function connectRedis(url: string, name: string): RedisClient {
  const { Redis, Cluster } = ioredis();
  const common: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 4), 1_000),
    connectTimeout: 2_000,
  };
  const parsed = parseRedisUrl(url);
  if (!parsed) return new Redis(url, common);
  const auth = { username: parsed.username, password: parsed.password };
  if (parsed.protocol === 'redis+sentinel:') {
    const { sentinelUsername, sentinelPassword } = parsed;
    return new Redis({ ...common, ...auth, sentinels: [...parsed.hosts], name: parsed.master, sentinelUsername, sentinelPassword });
  }
  // The slot map is read again every 5 s (ioredis reads it only on a redirection otherwise): when
  // a slot's master dies, the commands for it go to the dead node, which answers nothing, and
  // the replica that took the slot over would not be found before the leases on it lapsed.
  return new Cluster([...parsed.hosts], { redisOptions: { ...common, ...auth }, enableOfflineQueue: false, slotsRefreshInterval: SLOTS_REFRESH_MS });
}
