/**
 * `mproxy`: the command line. This file only wires the commands; each lives in `commands/`.
 */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { fail } from './fail.js';

/**
 * Each command's module, loaded only when needed: a relay's module graph (ioredis, jose,
 * prom-client…) took most of a `mproxy token` or `mproxy --version` start-up. In help order.
 */
const COMMANDS: Readonly<Record<string, () => Promise<(program: Command) => void>>> = {
  pack: async () => (await import('./commands/pack.js')).registerPack,
  inspect: async () => (await import('./commands/inspect.js')).registerInspect,
  relay: async () => (await import('./commands/relay.js')).registerRelay,
  device: async () => (await import('./commands/device.js')).registerDevice,
  token: async () => (await import('./commands/token.js')).registerToken,
  secret: async () => (await import('./commands/secret.js')).registerSecret,
  demo: async () => (await import('./commands/demo.js')).registerDemo,
  cluster: async () => (await import('./commands/cluster.js')).registerCluster,
};

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
try {
  // Registered after exitOverride/configureOutput so that the subcommands inherit them: the
  // command named, none for the version, all of them for help and an unknown command.
  const named = process.argv[2] ?? '';
  const wanted = Object.hasOwn(COMMANDS, named) ? [named] : named === '-V' || named === '--version' ? [] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((name) => (COMMANDS[name] as () => Promise<(program: Command) => void>)()))) register(program);
  await program.parseAsync(process.argv);
} catch (error) {
  fail(error);
}
