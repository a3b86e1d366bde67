/**
 * vitest globalSetup: the dashboard test drives Debian's `chromium` with playwright-core.
 * Installs it with apt-get where it is missing; fails with the command to run where that is
 * not possible. Never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
const HOW = "the dashboard test needs Debian's chromium; install it with: apt-get update && apt-get install -y chromium";

export default function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    try {
      run(['install', '-y', 'chromium']);
    } catch {
      run(['update']);
      run(['install', '-y', 'chromium']);
    }
  } catch (error) {
    throw new Error(`${HOW} (${(error as Error).message})`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(HOW);
}
