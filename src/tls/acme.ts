/**
 * Certificates from an ACME CA (Let's Encrypt by default) for a set of names, obtained with
 * `acme-client` and answered by this process: `tls-alpn-01` through {@link alpnChallenge},
 * `http-01` through {@link httpChallenge}. Certificates are kept in a cert dir, served from
 * there at once on the next start, and renewed when a third of their lifetime is left.
 * Failures are logged once each with their retry time; a certificate still valid keeps being
 * served meanwhile. Orders run one at a time.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { isWildcard } from '../auth/names.js';
import { InvalidOptionError, MproxyError } from '../codec/errors.js';
import { MAX_TIMER } from '../control/options.js';
import { silentLogger, type Logger } from '../logger.js';
import { loadAcme, trustAcmeCa } from './acme-http.js';
import { CertDir, defaultCertDir, type StoredCertificate } from './cert-dir.js';
import { TlsError } from './errors.js';
import { MIN_RENEWAL_GAP, renewalTime, retryDelay, type RenewalTiming } from './schedule.js';

/** Let's Encrypt's production directory: the default. */
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
/** Let's Encrypt's staging directory (`--acme-staging`). */
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** The challenge types this process can answer. */
export type AcmeChallengeType = 'tls-alpn-01' | 'http-01';

/** Options of {@link AcmeCertificates}. */
export interface AcmeOptions extends RenewalTiming {
  /** The account's contact. Giving it means the CA's terms of service are accepted. */
  readonly email: string;
  /** The ACME directory URL. Default: Let's Encrypt production. */
  readonly directory?: string;
  /** A PEM CA certificate to trust for the ACME server's own TLS (a private CA). */
  readonly ca?: string | Buffer;
  /** Where the account key, keys and certificates are kept. Default: {@link defaultCertDir}. */
  readonly certDir?: string;
  /** Challenge types, preferred first. Default `['tls-alpn-01', 'http-01']`. */
  readonly challenges?: readonly AcmeChallengeType[];
}

/** A certificate being served. */
export interface ServedCertificate {
  readonly name: string;
  readonly context: SecureContext;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf's serial number (hex), to tell one issue from the next. */
  readonly serial: string;
}

interface NameState {
  served?: ServedCertificate;
  timer?: NodeJS.Timeout;
  failures: number;
}

/**
 * Checks ACME options and the names, and that the cert dir can be written.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` for a bad email, directory or cert dir.
 * @throws {TlsError} `E_ACME_WILDCARD` for a wildcard name (it needs dns-01).
 */
export function checkAcme(names: readonly string[], options: AcmeOptions): CertDir {
  checkAcmeOptions(names, options);
  return new CertDir(options.certDir ?? defaultCertDir(), options.directory ?? LETS_ENCRYPT);
}

/**
 * The checks of {@link checkAcme} that touch nothing: the email, the directory URL, no wildcard
 * name, the challenges. (The cert dir is made and probed only by a process that will use it: a
 * check run as another user must not create it.)
 */
export function checkAcmeOptions(names: readonly string[], options: AcmeOptions): void {
  if (typeof options.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(options.email)) {
    throw new InvalidOptionError(`acme email ${JSON.stringify(options.email)} is not an email address`);
  }
  const directory = options.directory ?? LETS_ENCRYPT;
  let url: URL;
  try {
    url = new URL(directory);
  } catch {
    throw new InvalidOptionError(`acme directory ${JSON.stringify(directory)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new InvalidOptionError(`acme directory ${JSON.stringify(directory)} must be https://`);
  for (const name of names) {
    if (isWildcard(name)) {
      throw new TlsError('E_ACME_WILDCARD', `${name}: ACME certificates for wildcard names need dns-01, which mproxy cannot answer; use --cert for it`);
    }
  }
  for (const challenge of options.challenges ?? []) {
    if (challenge !== 'tls-alpn-01' && challenge !== 'http-01') throw new InvalidOptionError(`acme challenge ${JSON.stringify(challenge)} is not tls-alpn-01 or http-01`);
  }
}

/** Certificates for `names` from an ACME CA; see the module comment. */
export class AcmeCertificates {
  readonly #options: AcmeOptions;
  readonly #dir: CertDir;
  readonly #log: Logger;
  readonly #names = new Map<string, NameState>();
  readonly #alpn = new Map<string, SecureContext>();
  readonly #http = new Map<string, string>();
  readonly #listeners = new Set<(served: ServedCertificate) => void>();
  #queue: Promise<void> = Promise.resolve();
  #accountKey: Promise<Buffer> | undefined;
  #closed = false;

  /** @throws see {@link checkAcme}. */
  constructor(names: readonly string[], options: AcmeOptions, log: Logger = silentLogger) {
    this.#dir = checkAcme(names, options);
    this.#options = options;
    this.#log = log;
    if (options.ca !== undefined) trustAcmeCa(options.ca.toString());
    for (const name of names) this.#names.set(name, { failures: 0 });
  }

  /** Serves what the cert dir holds and schedules the orders and renewals. */
  start(): void {
    for (const [name, state] of this.#names) {
      const stored = this.#load(name);
      if (stored) state.served = stored;
      this.#schedule(name, state.served ? renewalTime(state.served, this.#options) : new Date());
    }
  }

  /** The certificate for `name`, while one is valid. */
  current(name: string): ServedCertificate | undefined {
    const served = this.#names.get(name)?.served;
    return served && served.notAfter.getTime() > Date.now() ? served : undefined;
  }

  /** Whether this manager orders certificates for `name`. */
  has(name: string): boolean {
    return this.#names.has(name);
  }

  /** The `acme-tls/1` certificate for a pending tls-alpn-01 validation of `name`. */
  alpnChallenge(name: string): SecureContext | undefined {
    return this.#alpn.get(name);
  }

  /** The key authorization to answer at `/.well-known/acme-challenge/TOKEN` for `name`. */
  httpChallenge(name: string, token: string): string | undefined {
    return this.#http.get(`${name}/${token}`);
  }

  /** Calls `listener` each time a new certificate is served; returns the unsubscribe. */
  onCertificate(listener: (served: ServedCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    for (const state of this.#names.values()) clearTimeout(state.timer);
    this.#listeners.clear();
  }

  #load(name: string): ServedCertificate | undefined {
    let stored: StoredCertificate | undefined;
    try {
      stored = this.#dir.read(name);
      return stored ? serve(name, stored) : undefined;
    } catch (error) {
      this.#log.warn({ name, err: (error as Error).message }, 'stored certificate unusable; ordering a new one');
      return undefined;
    }
  }

  #schedule(name: string, at: Date): void {
    const state = this.#names.get(name) as NameState;
    clearTimeout(state.timer);
    if (this.#closed) return;
    const wait = Math.max(0, at.getTime() - Date.now());
    // A timer cannot wait longer than MAX_TIMER: a later time is looked at again on wake-up.
    state.timer = setTimeout(() => {
      if (wait > MAX_TIMER) this.#schedule(name, at);
      else this.#enqueue(name);
    }, Math.min(wait, MAX_TIMER));
    state.timer.unref();
  }

  #enqueue(name: string): void {
    // One order at a time: many names must not hit the CA (and its rate limits) at once.
    this.#queue = this.#queue.then(() => this.#order(name));
  }

  async #order(name: string): Promise<void> {
    if (this.#closed) return;
    const state = this.#names.get(name) as NameState;
    try {
      this.#log.info({ name, renewal: state.served !== undefined }, 'ordering a certificate');
      const stored = await this.#obtain(name);
      if (this.#closed) return;
      this.#dir.write(name, stored);
      const served = serve(name, stored);
      state.served = served;
      state.failures = 0;
      this.#log.info({ name, notAfter: served.notAfter.toISOString() }, 'certificate obtained');
      for (const listener of this.#listeners) listener(served);
      const next = renewalTime(served, this.#options);
      this.#schedule(name, new Date(Math.max(next.getTime(), Date.now() + MIN_RENEWAL_GAP)));
    } catch (error) {
      if (this.#closed) return;
      state.failures += 1;
      const retryAt = error instanceof TlsError ? error.retryAt : undefined;
      const wait = retryDelay(state.failures, this.#options, retryAt);
      const at = new Date(Date.now() + wait);
      const code = error instanceof MproxyError ? error.code : 'E_ACME_FAILED';
      this.#log.warn(
        { name, code, retryAt: at.toISOString(), serving: this.current(name) ? 'the current certificate' : 'nothing' },
        `certificate order failed: ${describe(error)}; retrying at ${at.toISOString()}`,
      );
      this.#schedule(name, at);
    }
  }

  async #obtain(name: string): Promise<StoredCertificate> {
    const options = this.#options;
    const acme = await loadAcme();
    this.#accountKey ??= this.#dir.accountKey(() => acme.crypto.createPrivateEcdsaKey());
    const accountKey = await this.#accountKey.catch((error: unknown) => {
      this.#accountKey = undefined;
      throw error;
    });
    // Polls for a validation's result from 1 s on (the library's 5 s first wait is most of an
    // order's time when the CA is quick).
    const client = new acme.Client({ directoryUrl: options.directory ?? LETS_ENCRYPT, accountKey, backoffMin: 1000, backoffMax: 10_000, backoffAttempts: 10 });
    const key = await acme.crypto.createPrivateEcdsaKey();
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key);
    const cert = await client.auto({
      csr,
      email: options.email,
      termsOfServiceAgreed: true,
      challengePriority: [...(options.challenges ?? ['tls-alpn-01', 'http-01'])],
      // acme-client's own pre-check resolves the name and connects to it from here; behind a
      // relay (and in private setups) that says nothing the CA's own validation will not.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        const type: string = challenge.type;
        this.#log.info({ name, challenge: type }, 'answering an ACME challenge');
        if (type === 'http-01') {
          this.#http.set(`${name}/${challenge.token}`, keyAuthorization);
        } else if (type === 'tls-alpn-01') {
          const [challengeKey, challengeCert] = await acme.crypto.createAlpnCertificate(_authz, keyAuthorization);
          this.#alpn.set(name, createSecureContext({ key: challengeKey, cert: challengeCert }));
        }
      },
      challengeRemoveFn: async (_authz, challenge) => {
        if (challenge.type === 'http-01') this.#http.delete(`${name}/${challenge.token}`);
        else this.#alpn.delete(name);
      },
    });
    return { cert, key: key.toString('utf8') };
  }
}

/**
 * A stored certificate, checked and made servable.
 * @throws {TlsError} `E_CERT_LOAD` when it does not parse or does not cover `name`.
 */
export function serve(name: string, stored: StoredCertificate): ServedCertificate {
  let leaf: X509Certificate;
  let context: SecureContext;
  try {
    leaf = new X509Certificate(stored.cert);
    context = createSecureContext({ cert: stored.cert, key: stored.key });
  } catch (error) {
    throw new TlsError('E_CERT_LOAD', `certificate for ${name} does not load: ${(error as Error).message}`, { cause: error });
  }
  const covers = name.startsWith('*.') ? leaf.checkHost(`x${name.slice(1)}`) : leaf.checkHost(name);
  if (!covers) throw new TlsError('E_CERT_LOAD', `certificate does not cover ${name}`);
  return { name, context, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber };
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
