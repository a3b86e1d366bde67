/** `--admin HOST:PORT` and `--admin-token-file PATH`, shared by `relay` and `device`. */
import type { Command } from 'commander';
import { AdminError } from '../admin/errors.js';
import { createAdminServer, isLoopback, type AdminServer } from '../admin/server.js';
import { parseListen } from '../relay/options.js';
import type { Device } from '../device/device.js';
import type { Logger } from '../logger.js';
import type { Relay } from '../relay/relay.js';
import { cliError } from './fail.js';
import { readFlagFile } from './secret.js';

export interface AdminFlags {
  admin?: string;
  adminTokenFile?: string;
}

export function withAdminOptions(command: Command): Command {
  return command
    .option('--admin <host:port>', 'serve /metrics (Prometheus), the admin API and the dashboard here (off by default)')
    .option('--admin-token-file <path>', 'bearer token the admin listener requires (required when --admin is not on loopback)');
}

/** The admin token from its file, or undefined; the flags are checked before anything starts. */
export function adminToken(flags: AdminFlags): string | undefined {
  if (flags.adminTokenFile === undefined) {
    if (flags.admin !== undefined) {
      const host = parseListen(flags.admin, { host: '127.0.0.1', port: 9090 }, '--admin').host;
      if (!isLoopback(host)) throw cliError('E_USAGE', `--admin ${flags.admin} is not on loopback: give --admin-token-file`);
    }
    return undefined;
  }
  if (!flags.admin) throw cliError('E_USAGE', '--admin-token-file needs --admin');
  const token = readFlagFile(flags.adminTokenFile, '--admin-token-file').toString('utf8').trim();
  if (!token) throw cliError('E_BAD_INPUT', `--admin-token-file ${flags.adminTokenFile} is empty`);
  return token;
}

/** Starts the admin listener when `--admin` is given. */
export async function startAdmin(flags: AdminFlags, token: string | undefined, target: { relay?: Relay; device?: Device }, log: Logger): Promise<AdminServer | undefined> {
  if (!flags.admin) return undefined;
  try {
    return await createAdminServer({ listen: flags.admin, token, ...target, logger: log });
  } catch (error) {
    if (error instanceof AdminError && error.code === 'E_ADMIN_TOKEN_REQUIRED') {
      throw cliError('E_USAGE', `--admin ${flags.admin} is not on loopback: give --admin-token-file`);
    }
    throw error;
  }
}
