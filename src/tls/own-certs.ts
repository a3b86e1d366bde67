/**
 * Certificates the user brings (`--cert NAME=CERT.pem,KEY.pem`): loaded at start, and loaded
 * again when either file changes (a renewal by another tool), keeping the previous pair if the
 * new one does not load.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { isValidName, normalizeName } from '../auth/names.js';
import { InvalidOptionError } from '../codec/errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { serve, type ServedCertificate } from './acme.js';

/** One `--cert` rule. */
export interface OwnCertificate {
  /** The name (or `*.wildcard`) it serves. */
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Parses `NAME=CERT.pem,KEY.pem`.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` naming the bad part.
 */
export function parseOwnCertificate(spec: string): OwnCertificate {
  const eq = spec.indexOf('=');
  const files = spec.slice(eq + 1).split(',');
  const name = spec.slice(0, eq).trim();
  if (eq < 0 || files.length !== 2 || !files[0] || !files[1]) {
    throw new InvalidOptionError(`cert ${JSON.stringify(spec)} is not NAME=CERT.pem,KEY.pem`);
  }
  if (!isValidName(name, { wildcard: true })) throw new InvalidOptionError(`cert ${JSON.stringify(spec)}: ${JSON.stringify(name)} is not a host name`);
  return { name: normalizeName(name), certFile: files[0].trim(), keyFile: files[1].trim() };
}

/** Options of {@link OwnCertificates}. */
export interface OwnCertificatesOptions {
  /** How often the files are looked at for changes (ms). Default 5000. */
  readonly pollInterval?: number;
}

/** The user's certificates, by name; see the module comment. */
export class OwnCertificates {
  readonly #served = new Map<string, ServedCertificate>();
  readonly #rules: readonly OwnCertificate[];
  readonly #log: Logger;
  readonly #listeners = new Set<(served: ServedCertificate) => void>();
  readonly #watched: string[] = [];
  readonly #pollInterval: number;

  /** Loads every pair. @throws {InvalidOptionError} `E_INVALID_OPTION` for one that does not load. */
  constructor(rules: readonly (OwnCertificate | string)[], log: Logger = silentLogger, options: OwnCertificatesOptions = {}) {
    this.#pollInterval = options.pollInterval ?? 5000;
    this.#rules = rules.map((rule) => (typeof rule === 'string' ? parseOwnCertificate(rule) : rule));
    this.#log = log;
    for (const rule of this.#rules) {
      try {
        this.#served.set(rule.name, load(rule));
      } catch (error) {
        throw new InvalidOptionError(`cert for ${rule.name}: ${(error as Error).message}`);
      }
    }
  }

  /** The names (and wildcards) served. */
  get names(): string[] {
    return this.#rules.map((rule) => rule.name);
  }

  /** The certificate for a rule's name (exact pattern, as given). */
  current(pattern: string): ServedCertificate | undefined {
    return this.#served.get(pattern);
  }

  /** Starts watching the files. */
  start(): void {
    const interval = this.#pollInterval;
    for (const rule of this.#rules) {
      for (const file of [rule.certFile, rule.keyFile]) {
        const listener = (): void => this.#reload(rule);
        watchFile(file, { interval, persistent: false }, listener);
        this.#watched.push(file);
      }
    }
  }

  onCertificate(listener: (served: ServedCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    for (const file of this.#watched) unwatchFile(file);
    this.#watched.length = 0;
    this.#listeners.clear();
  }

  #reload(rule: OwnCertificate): void {
    try {
      const served = load(rule);
      if (served.serial === this.#served.get(rule.name)?.serial) return;
      this.#served.set(rule.name, served);
      this.#log.info({ name: rule.name, notAfter: served.notAfter.toISOString() }, 'certificate reloaded');
      for (const listener of this.#listeners) listener(served);
    } catch (error) {
      // A certificate and key written one after the other do not match in between: the next
      // change loads them.
      this.#log.warn({ name: rule.name, err: (error as Error).message }, 'certificate files changed but do not load; keeping the previous pair');
    }
  }
}

function load(rule: OwnCertificate): ServedCertificate {
  return serve(rule.name, { cert: readFileSync(rule.certFile, 'utf8'), key: readFileSync(rule.keyFile, 'utf8') });
}
