/**
 * A Debian package that the test suite (its vitest globalSetups) or a benchmark needs, installed
 * with apt-get where it is missing; where that is not possible, a failure that says the command
 * to run. Never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Makes sure `binaries` exist, installing Debian's `pkg` if not; `who` says what needs it.
 * @param {string} pkg
 * @param {readonly string[]} binaries
 * @param {string} who
 */
export function ensureDebianPackage(pkg, binaries, who) {
  const present = () => binaries.every((file) => existsSync(file));
  if (present()) return;
  const how = `Debian's ${pkg} is needed by ${who}; install it with: apt-get update && apt-get install -y ${pkg}`;
  const run = (args) => {
    execFileSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    try {
      run(['install', '-y', pkg]);
    } catch {
      run(['update']);
      run(['install', '-y', pkg]);
    }
  } catch (error) {
    throw new Error(`${how} (${error.message})`);
  }
  if (!present()) throw new Error(how);
}
