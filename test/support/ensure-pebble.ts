/**
 * vitest globalSetup: the ACME tests need Debian's `pebble` (pebble and pebble-challtestsrv).
 * Installs it with apt-get where it is missing; fails with the command to run where that is
 * not possible. Never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const BINARIES = ['/usr/bin/pebble', '/usr/bin/pebble-challtestsrv'];

export default function ensurePebble(): void {
  if (BINARIES.every((file) => existsSync(file))) return;
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    try {
      run(['install', '-y', 'pebble']);
    } catch {
      run(['update']);
      run(['install', '-y', 'pebble']);
    }
  } catch (error) {
    throw new Error(`the ACME tests need Debian's pebble; install it with: apt-get update && apt-get install -y pebble (${(error as Error).message})`);
  }
  if (!BINARIES.every((file) => existsSync(file))) {
    throw new Error('the ACME tests need Debian\'s pebble; install it with: apt-get update && apt-get install -y pebble');
  }
}
