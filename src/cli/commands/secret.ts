import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { MIN_SECRET_BYTES } from '../../relay/options.js';

export function registerSecret(program: Command): void {
  program
    .command('secret')
    .description(`print a new random relay secret (${MIN_SECRET_BYTES} bytes, hex)`)
    .action(() => {
      process.stdout.write(`${randomBytes(MIN_SECRET_BYTES).toString('hex')}\n`);
    });
}
