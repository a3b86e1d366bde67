/**
 * The one place where an error becomes what a person sees: `mproxy: <message> (<code>)` on
 * stderr and exit code 1. Never a stack trace: a CLI user can act on a message and a code, and
 * a trace only hides them.
 */
import { CommanderError } from 'commander';
import { MproxyError } from '../codec/errors.js';
import { ListenError } from '../relay/errors.js';

/** Codes of the errors the CLI itself raises (the library's are in `docs/errors.md`). */
export type CliErrorCode = 'E_USAGE' | 'E_BAD_INPUT';

/** An error in what the user gave the CLI: arguments, or the content of an input file. */
export function cliError(code: CliErrorCode, message: string, options?: { cause?: unknown }): MproxyError {
  return new MproxyError(code, message, options);
}

/** Commander's ways of saying "I printed help or the version": not failures. */
const COMMANDER_DONE = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

/**
 * The flags of the library options whose names start an `E_INVALID_OPTION` message: a CLI user
 * gave `--tcp-ports`, not `tcpPorts`.
 */
const FLAG_OF: Readonly<Record<string, string>> = {
  listen: '--listen',
  tunnel: '--tunnel',
  tcpPorts: '--tcp-ports',
  udpPorts: '--udp-ports',
  portHost: '--port-host',
  sniffTimeout: '--sniff-timeout',
  tokenGrace: '--token-grace',
  acceptProxyProtocol: '--accept-proxy-protocol',
  expiresIn: '--expires',
  relay: '--relay',
  forward: '--forward',
  tunnelAcme: '--tunnel-acme',
  'cluster url': '--cluster',
  'cluster nodeId': '--node-id',
  'cluster nodeListen': '--node-listen',
  'cluster nodeAdvertise': '--node-advertise',
  'cluster leaseTtl': '--lease-ttl',
  'cluster leaseGrace': '--lease-grace',
  'cluster drainTimeout': '--drain-timeout',
};

/** A relay's listen failure as the flag that gave the address: `--listen 0.0.0.0:443: address already in use`. */
export function namingTheFlag(error: unknown): unknown {
  return error instanceof ListenError ? new MproxyError(error.code, `--${error.message}`, { cause: error }) : error;
}

/** The line for `error`, without a newline. */
function errorLine(error: unknown): string {
  let message: string;
  let code: string;
  if (error instanceof CommanderError) {
    message = error.message.replace(/^error:\s*/i, '');
    code = 'E_USAGE';
  } else if (error instanceof Error) {
    const own = (error as { code?: unknown }).code;
    code = typeof own === 'string' && own !== '' ? own : 'E_UNEXPECTED';
    // Node's system errors repeat their code at the start of the message.
    message = error.message.startsWith(`${code}: `) ? error.message.slice(code.length + 2) : error.message;
    if (code === 'E_INVALID_OPTION') message = message.replace(/^(cluster \w+|\w+)\b/, (word) => FLAG_OF[word] ?? word);
  } else {
    message = String(error);
    code = 'E_UNEXPECTED';
  }
  message = message.replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'failed';
  return `mproxy: ${message} (${code})`;
}

/**
 * Reports `error` and sets the exit code, or only sets the exit code when commander has already
 * shown help or the version. Leaves the process to end on its own, so that stdout is flushed.
 */
export function fail(error: unknown): void {
  if (error instanceof CommanderError && COMMANDER_DONE.has(error.code)) {
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`${errorLine(error)}\n`);
  process.exitCode = 1;
}
