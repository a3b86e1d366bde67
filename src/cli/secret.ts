import { readFileSync } from 'node:fs';
import { MproxyError } from '../codec/errors.js';
import { MIN_SECRET_BYTES } from '../relay/options.js';
import { cliError } from './fail.js';

/**
 * Refuses a secret shorter than {@link MIN_SECRET_BYTES} unless `allowWeak`; returns the warning
 * to show when a weak secret is let through, or `undefined`.
 */
export function checkSecretStrength(secret: string, allowWeak: boolean | undefined): string | undefined {
  const bytes = Buffer.byteLength(secret);
  if (bytes >= MIN_SECRET_BYTES) return undefined;
  const what = `the secret is ${bytes} bytes long, under ${MIN_SECRET_BYTES}`;
  if (!allowWeak) {
    throw new MproxyError('E_WEAK_SECRET', `${what}: make one with \`mproxy secret\` (or keep this one with --allow-weak-secret)`);
  }
  return `${what}: anyone with one token can guess it offline; replace it with one from \`mproxy secret\``;
}

/**
 * The relay secret from `--secret`, `--secret-file` or `MPROXY_SECRET`, in that order. A file's
 * trailing newline is not part of the secret.
 */
export function readSecret(flags: { secret?: string; secretFile?: string }): string {
  if (flags.secret) return flags.secret;
  if (flags.secretFile) {
    const secret = readFlagFile(flags.secretFile, '--secret-file').toString('utf8').replace(/\r?\n$/, '');
    if (!secret) throw cliError('E_BAD_INPUT', `--secret-file ${flags.secretFile} is empty`);
    return secret;
  }
  const fromEnv = process.env.MPROXY_SECRET;
  if (fromEnv) return fromEnv;
  throw cliError('E_USAGE', 'a secret is required: --secret, --secret-file or MPROXY_SECRET');
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Reads a file named by a flag; a missing or unreadable file is one `E_BAD_INPUT` line. */
export function readFlagFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw cliError('E_BAD_INPUT', `cannot read ${flag} ${path}: ${(error as Error).message}`);
  }
}
