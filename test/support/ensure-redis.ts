/** vitest globalSetup: the cluster tests need Debian's `redis-server`, and `redis-cli` to form a Redis Cluster. */
import { ensureDebianPackage } from '../../scripts/ensure-debian-package.mjs';

export default function ensureRedis(): void {
  ensureDebianPackage('redis-server', ['/usr/bin/redis-server'], 'the cluster tests');
  // A dependency of redis-server, but a package of its own.
  ensureDebianPackage('redis-tools', ['/usr/bin/redis-cli'], 'the Redis Cluster test (test/cluster/topologies.test.ts)');
}
