/**
 * The certificates of the names a process terminates TLS for: the user's own (`--cert`,
 * wildcards allowed) first, then ACME's for the names left.
 */
import type { SecureContext } from 'node:tls';
import { matchesName, wildcardSpecificity } from '../auth/names.js';
import { InvalidOptionError } from '../codec/errors.js';
import { childLogger, silentLogger, type Logger } from '../logger.js';
import { AcmeCertificates, checkAcmeOptions, type AcmeOptions, type ServedCertificate } from './acme.js';
import { OwnCertificates, type OwnCertificate } from './own-certs.js';

/** Where terminated names get their certificates. */
export interface TlsCertificateOptions {
  /** ACME for the names no `certs` entry covers. */
  readonly acme?: AcmeOptions;
  /** Certificates brought by the user: `NAME=CERT.pem,KEY.pem` or objects. */
  readonly certs?: readonly (OwnCertificate | string)[];
  /** How often `certs` files are looked at for changes (ms). Default 5000. */
  readonly certPollInterval?: number;
}

/** The names no own certificate covers; refused unless ACME is configured for them. */
function leftToAcme(names: readonly string[], own: OwnCertificates, options: TlsCertificateOptions): string[] {
  const left = [...new Set(names)].filter((name) => !own.names.some((pattern) => matchesName(pattern, name)));
  if (left.length > 0 && !options.acme) {
    throw new InvalidOptionError(`no certificate for ${left.join(', ')}: give --acme-email for ACME certificates, or --cert NAME=CERT.pem,KEY.pem`);
  }
  return left;
}

/**
 * Checks what {@link TlsSites} would refuse for `names`, starting nothing and writing nothing:
 * each own certificate is read, and the names left need valid ACME options.
 * @throws as the TlsSites constructor, but for a cert dir (not made here).
 */
export function checkTlsSites(names: readonly string[], options: TlsCertificateOptions): void {
  const left = leftToAcme(names, new OwnCertificates(options.certs ?? []), options);
  if (left.length > 0 && options.acme) checkAcmeOptions(left, options.acme);
}

/** The certificates for a set of terminated names; see the module comment. */
export class TlsSites {
  readonly #own: OwnCertificates;
  readonly #acme: AcmeCertificates | undefined;

  /**
   * @throws {InvalidOptionError} `E_INVALID_OPTION` for a name no certificate can come from, a
   *   `--cert` that does not load, or a cert dir that cannot be written.
   * @throws {TlsError} `E_ACME_WILDCARD` for a wildcard name left to ACME.
   */
  constructor(names: readonly string[], options: TlsCertificateOptions, log: Logger = silentLogger) {
    this.#own = new OwnCertificates(options.certs ?? [], childLogger(log, { component: 'certs' }), { pollInterval: options.certPollInterval });
    const left = leftToAcme(names, this.#own, options);
    this.#acme = left.length > 0 && options.acme ? new AcmeCertificates(left, options.acme, childLogger(log, { component: 'acme' })) : undefined;
  }

  start(): void {
    this.#own.start();
    this.#acme?.start();
  }

  /** The certificate to serve for `name` now, if there is one. */
  contextFor(name: string): SecureContext | undefined {
    let best: string | undefined;
    for (const pattern of this.#own.names) {
      if (matchesName(pattern, name) && (best === undefined || wildcardSpecificity(pattern) > wildcardSpecificity(best))) best = pattern;
    }
    if (best !== undefined) return this.#own.current(best)?.context;
    return this.#acme?.current(name)?.context;
  }

  /** The tls-alpn-01 certificate pending for `name`. */
  alpnChallenge(name: string): SecureContext | undefined {
    return this.#acme?.alpnChallenge(name);
  }

  /** The http-01 key authorization for `name` and `token`. */
  httpChallenge(name: string, token: string): string | undefined {
    return this.#acme?.httpChallenge(name, token);
  }

  /** Whether ACME manages `name`. */
  managesByAcme(name: string): boolean {
    return this.#acme?.has(name) ?? false;
  }

  /** Calls `listener` for every certificate obtained or reloaded. */
  onCertificate(listener: (served: ServedCertificate) => void): () => void {
    const a = this.#own.onCertificate(listener);
    const b = this.#acme?.onCertificate(listener);
    return () => {
      a();
      b?.();
    };
  }

  close(): void {
    this.#own.close();
    this.#acme?.close();
  }
}
