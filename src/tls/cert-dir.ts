/**
 * Where certificates and keys live on disk: one folder per ACME directory (an account and its
 * certificates belong to one CA), files written whole (temporary file, then rename) with mode
 * 0600, so that a crash never leaves half a key and no other user reads one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from '../codec/errors.js';

/** The default `--cert-dir`: `mproxy/certs` under the user's configuration directory. */
export function defaultCertDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'mproxy', 'certs');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'mproxy', 'certs');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mproxy', 'certs');
}

/** A certificate chain and its key, as PEM. */
export interface StoredCertificate {
  readonly cert: string;
  readonly key: string;
}

/** The files of one ACME directory's account and certificates under a cert dir. */
export class CertDir {
  readonly root: string;

  /**
   * Creates the folder if needed and proves it can be written.
   * @throws {InvalidOptionError} `E_INVALID_OPTION` when it cannot: found at start, not at the
   *   first certificate.
   */
  constructor(dir: string, directoryUrl: string) {
    const id = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 12);
    this.root = join(dir, `acme-${new URL(directoryUrl).hostname}-${id}`);
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      const probe = join(this.root, `.probe-${process.pid}`);
      writeFileSync(probe, '', { mode: 0o600 });
      unlinkSync(probe);
    } catch (error) {
      throw new InvalidOptionError(`cert dir ${JSON.stringify(dir)} cannot be written: ${(error as Error).message}`);
    }
  }

  /** The account key, made by `create` the first time. */
  async accountKey(create: () => Promise<Buffer>): Promise<Buffer> {
    const file = join(this.root, 'account.key.pem');
    const existing = readIfThere(file);
    if (existing) return existing;
    const key = await create();
    writePrivate(file, key);
    return key;
  }

  read(name: string): StoredCertificate | undefined {
    const cert = readIfThere(this.#file(name, 'cert'));
    const key = readIfThere(this.#file(name, 'key'));
    return cert && key ? { cert: cert.toString('utf8'), key: key.toString('utf8') } : undefined;
  }

  /** Key first: a certificate on disk always has its key beside it. */
  write(name: string, stored: StoredCertificate): void {
    writePrivate(this.#file(name, 'key'), stored.key);
    writePrivate(this.#file(name, 'cert'), stored.cert);
  }

  #file(name: string, kind: 'cert' | 'key'): string {
    // Names are checked host names (no slash, no `..` label): safe as file names.
    return join(this.root, `${name}.${kind}.pem`);
  }
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function writePrivate(file: string, data: string | Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, data, { mode: 0o600 });
  renameSync(temporary, file);
}
