import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../codec/errors.js';

/** A Redis client of either kind: both speak the commands the registry uses. */
export type RedisClient = Redis | Cluster;

/**
 * Connects to the registry's Redis. Commands fail at once while it is unreachable (no offline
 * queue: the registry retries on its own heartbeat, and a visitor must never wait on Redis);
 * the client reconnects with backoff up to 1 s.
 */
export function connectRedis(url: string, name: string): RedisClient {
  const common: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 4), 1_000),
    connectTimeout: 2_000,
  };
  const parsed = new URL(url);
  const hosts = (): { host: string; port: number }[] =>
    // URL takes only one host: the list is read from the text between // and the path.
    (/^[a-z+]+:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url)?.[1] ?? '')
      .split(',')
      .filter(Boolean)
      .map((entry) => {
        const at = entry.lastIndexOf(':');
        const host = (at > 0 ? entry.slice(0, at) : entry).replace(/^\[|\]$/g, '');
        return { host, port: at > 0 ? Number(entry.slice(at + 1)) : 6379 };
      });
  const auth = { username: decodeURIComponent(parsed.username) || undefined, password: decodeURIComponent(parsed.password) || undefined };
  switch (parsed.protocol) {
    case 'redis:':
    case 'rediss:':
      return new Redis(url, common);
    case 'redis+sentinel:': {
      const master = parsed.pathname.replace(/^\//, '');
      if (!master) throw new InvalidOptionError('a redis+sentinel:// URL names the master: redis+sentinel://host:port/MASTER');
      return new Redis({ ...common, ...auth, sentinels: hosts(), name: master });
    }
    case 'redis+cluster:':
      return new Cluster(hosts(), { redisOptions: { ...common, ...auth }, enableOfflineQueue: false });
    default:
      throw new InvalidOptionError(`cluster url ${JSON.stringify(url)}: unknown scheme`);
  }
}
