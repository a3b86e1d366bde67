/** vitest globalSetup: the ACME tests need Debian's `pebble` (pebble and pebble-challtestsrv). */
import { ensureDebianPackage } from '../../scripts/ensure-debian-package.mjs';

export default function ensurePebble(): void {
  ensureDebianPackage('pebble', ['/usr/bin/pebble', '/usr/bin/pebble-challtestsrv'], 'the ACME tests');
}
