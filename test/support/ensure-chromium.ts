/** vitest globalSetup: the dashboard test drives Debian's `chromium` with playwright-core. */
import { ensureDebianPackage } from '../../scripts/ensure-debian-package.mjs';

export const CHROMIUM = '/usr/bin/chromium';

export default function ensureChromium(): void {
  ensureDebianPackage('chromium', [CHROMIUM], 'the dashboard test');
}
