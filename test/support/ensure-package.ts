/**
 * What the vitest globalSetups share: a Debian package the suite needs, installed with apt-get
 * where it is missing; where that is not possible, a failure that says the command to run.
 * Never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Makes sure `binaries` exist, installing Debian's `pkg` if not; `who` says which tests need it. */
export function ensureDebianPackage(pkg: string, binaries: readonly string[], who: string): void {
  const present = (): boolean => binaries.every((file) => existsSync(file));
  if (present()) return;
  const how = `Debian's ${pkg} is needed by ${who}; install it with: apt-get update && apt-get install -y ${pkg}`;
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    try {
      run(['install', '-y', pkg]);
    } catch {
      run(['update']);
      run(['install', '-y', pkg]);
    }
  } catch (error) {
    throw new Error(`${how} (${(error as Error).message})`);
  }
  if (!present()) throw new Error(how);
}
