import type { Command } from 'commander';
import { isValidName } from '../../auth/names.js';
import { portOfText } from '../../auth/policy.js';
import { issueToken } from '../../auth/token.js';
import { cliError } from '../fail.js';
import { checkSecretStrength, collect, readSecret } from '../secret.js';

interface TokenFlags {
  secret?: string;
  secretFile?: string;
  domain?: string[];
  port?: string[];
  expires?: string;
  sub?: string;
  jti?: string;
  allowWeakSecret?: boolean;
}

export function registerToken(program: Command): void {
  program
    .command('token')
    .description('issue a device token (JWT, HS256) for names and ports')
    .option('--secret <secret>', 'the relay secret (or --secret-file, or MPROXY_SECRET)')
    .option('--secret-file <path>', 'read the relay secret from a file')
    .option('--domain <name>', 'a name the device may serve (repeatable; *.example.com allowed)', collect)
    .option('--port <port>', 'a TCP/UDP port the device may claim (repeatable)', collect)
    .option('--expires <duration>', 'lifetime, e.g. 30m, 24h, 7d (default: no expiry)')
    .option('--sub <subject>', 'the device identity; devices with the same subject share names')
    .option('--jti <id>', "the token's identifier, by which the relay's admin API can revoke it (DELETE /api/tokens/ID)")
    .option('--allow-weak-secret', 'accept a secret shorter than 32 bytes (an existing telebit deployment\'s)')
    .action(async (flags: TokenFlags) => {
      const secret = readSecret(flags);
      const warning = checkSecretStrength(secret, flags.allowWeakSecret);
      if (warning) process.stderr.write(`mproxy: warning: ${warning}\n`);
      const ports = (flags.port ?? []).map((text) => {
        const port = portOfText(text);
        if (port === undefined) throw cliError('E_USAGE', `--port ${text} is not a port 1-65535`);
        return port;
      });
      const domains = flags.domain ?? [];
      for (const domain of domains) {
        if (!isValidName(domain, { wildcard: true })) {
          throw cliError('E_USAGE', `--domain ${domain} is not a host name: labels of letters, digits and '-' between dots (no '_'), or *.NAME for a wildcard`);
        }
      }
      if (domains.length === 0 && ports.length === 0) throw cliError('E_USAGE', 'give at least one --domain or --port');
      const token = await issueToken(secret, { domains, ports, sub: flags.sub, jti: flags.jti }, { expiresIn: flags.expires });
      process.stdout.write(`${token}\n`);
    });
}
