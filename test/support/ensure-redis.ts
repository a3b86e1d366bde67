/** vitest globalSetup: the cluster tests need Debian's `redis-server`. */
import { ensureDebianPackage } from './ensure-package.js';

export default function ensureRedis(): void {
  ensureDebianPackage('redis-server', ['/usr/bin/redis-server'], 'the cluster tests');
}
