/**
 * The CLI's logger: pino, pretty on a terminal, JSON lines with `--json` or when stderr is not
 * a terminal. Logs go to stderr, so that stdout stays for what a command prints (a token, a
 * curl line).
 */
import type { Command } from 'commander';
import { pino, type Logger as PinoLogger } from 'pino';
import { lazyModule } from '../lazy-module.js';
import { cliError } from './fail.js';

// Only a terminal gets pretty lines: a service's logs (JSON) need not load it.
const pretty = lazyModule<typeof import('pino-pretty')>('pino-pretty');

export interface LogFlags {
  json?: boolean;
  logLevel?: string;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function createCliLogger(flags: LogFlags): PinoLogger {
  const level = flags.logLevel ?? 'info';
  if (!LEVELS.has(level)) throw cliError('E_USAGE', `--log-level must be one of ${[...LEVELS].join(', ')}`);
  const options = { level, base: undefined };
  if (flags.json || !process.stderr.isTTY) return pino(options, pino.destination({ fd: 2, sync: true }));
  return pino(options, pretty()({ destination: 2, colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname', sync: true }));
}

/** Adds `--json` and `--log-level` to a long-running command. */
export function withLogOptions(command: Command): Command {
  return command
    .option('--json', 'log JSON lines')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info');
}
