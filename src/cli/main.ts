/**
 * `mproxy`: the command line. This file only wires the commands; each lives in `commands/`.
 */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerCluster } from './commands/cluster.js';
import { registerDemo } from './commands/demo.js';
import { registerDevice } from './commands/device.js';
import { registerInspect } from './commands/inspect.js';
import { registerPack } from './commands/pack.js';
import { registerRelay } from './commands/relay.js';
import { registerSecret } from './commands/secret.js';
import { registerToken } from './commands/token.js';
import { fail } from './fail.js';

/** One line for the error, then exit 1. */
function die(error: unknown): never {
  fail(error);
  process.exit(1);
}

// Anything that escapes the commands still ends as one line, never as a stack trace.
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
// `mproxy inspect big.bin | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  die(error);
});

/**
 * The package's version, read at run time so that it is never stale. The built file is
 * `dist/cli.js` and the source `src/cli/main.ts`: package.json is one or two levels up.
 */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: unknown; version?: unknown };
      if (pkg.name === 'mproxy' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not there: try the next level.
    }
  }
  return 'unknown';
}

const program = new Command('mproxy')
  .description('M-PROXY tunnels (proxy-packer compatible): relay, device, tokens, and frame tools')
  .version(packageVersion(), '-V, --version', 'print the version')
  .helpOption('-h, --help', 'print this help')
  .exitOverride()
  // Errors are printed by fail(), as one line; commander prints help and the version itself.
  .configureOutput({ outputError: () => {} });
// Registered after exitOverride/configureOutput so that the subcommands inherit them.
registerPack(program);
registerInspect(program);
registerRelay(program);
registerDevice(program);
registerToken(program);
registerSecret(program);
registerDemo(program);
registerCluster(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  fail(error);
}
