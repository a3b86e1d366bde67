/** The certificate flags `device` and `relay` share: `--acme-*` and `--cert-dir`. */
import type { Command } from 'commander';
import { LETS_ENCRYPT, LETS_ENCRYPT_STAGING, type AcmeChallengeType, type AcmeOptions } from '../tls/acme.js';
import { cliError } from './fail.js';
import { readCertificateFlag } from './pem-flags.js';

export interface AcmeFlags {
  acmeEmail?: string;
  acmeDirectory?: string;
  acmeStaging?: boolean;
  acmeCa?: string;
  acmeChallenge?: string;
  certDir?: string;
}

/** Adds the ACME flags to a command. */
export function withAcmeOptions(command: Command): Command {
  return command
    .option('--acme-email <email>', "get certificates over ACME with this account email (accepts the CA's terms of service)")
    .option('--acme-directory <url>', 'the ACME directory (default: Let\'s Encrypt production)')
    .option('--acme-staging', "use Let's Encrypt's staging directory")
    .option('--acme-ca <path>', "PEM CA certificate to trust for a private ACME server's TLS")
    .option('--acme-challenge <type>', 'the challenge to use: tls-alpn-01 or http-01 (default: tls-alpn-01, then http-01)')
    .option('--cert-dir <dir>', 'where the ACME account key, keys and certificates are kept (default: mproxy/certs in the user config dir)');
}

/** The ACME options from the flags, or `undefined` without `--acme-email`. */
export function acmeOptionsFrom(flags: AcmeFlags): AcmeOptions | undefined {
  if (!flags.acmeEmail) {
    for (const [flag, given] of [
      ['--acme-directory', flags.acmeDirectory],
      ['--acme-staging', flags.acmeStaging],
      ['--acme-ca', flags.acmeCa],
      ['--acme-challenge', flags.acmeChallenge],
    ] as const) {
      if (given) throw cliError('E_USAGE', `${flag} needs --acme-email`);
    }
    return undefined;
  }
  if (flags.acmeStaging && flags.acmeDirectory) throw cliError('E_USAGE', '--acme-staging and --acme-directory exclude each other');
  if (flags.acmeChallenge && flags.acmeChallenge !== 'tls-alpn-01' && flags.acmeChallenge !== 'http-01') {
    throw cliError('E_USAGE', '--acme-challenge must be tls-alpn-01 or http-01');
  }
  return {
    email: flags.acmeEmail,
    directory: flags.acmeDirectory ?? (flags.acmeStaging ? LETS_ENCRYPT_STAGING : LETS_ENCRYPT),
    ca: flags.acmeCa ? readCertificateFlag(flags.acmeCa, '--acme-ca') : undefined,
    certDir: flags.certDir,
    challenges: flags.acmeChallenge ? [flags.acmeChallenge as AcmeChallengeType] : undefined,
  };
}
