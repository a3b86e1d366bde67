import { readFileSync } from 'node:fs';
import { cliError } from './fail.js';

/**
 * The relay secret from `--secret`, `--secret-file` or `MPROXY_SECRET`, in that order. A file's
 * trailing newline is not part of the secret.
 */
export function readSecret(flags: { secret?: string; secretFile?: string }): string {
  if (flags.secret) return flags.secret;
  if (flags.secretFile) {
    let text: string;
    try {
      text = readFileSync(flags.secretFile, 'utf8');
    } catch (error) {
      throw cliError('E_BAD_INPUT', `cannot read --secret-file ${flags.secretFile}: ${(error as Error).message}`);
    }
    const secret = text.replace(/\r?\n$/, '');
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
