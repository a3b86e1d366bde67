/**
 * vitest globalSetup: the cluster tests need Debian's `redis-server`. Installs it with apt-get
 * where it is missing; fails with the command to run where that is not possible. Never a
 * silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const BINARY = '/usr/bin/redis-server';
const HOW = 'the cluster tests need Debian\'s redis-server; install it with: apt-get update && apt-get install -y redis-server';

export default function ensureRedis(): void {
  if (existsSync(BINARY)) return;
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    try {
      run(['install', '-y', 'redis-server']);
    } catch {
      run(['update']);
      run(['install', '-y', 'redis-server']);
    }
  } catch (error) {
    throw new Error(`${HOW} (${(error as Error).message})`);
  }
  if (!existsSync(BINARY)) throw new Error(HOW);
}
