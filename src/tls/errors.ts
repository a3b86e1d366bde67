import { MproxyError } from '../codec/errors.js';

/** Codes raised by TLS termination and certificates; see `docs/errors.md`. */
export type TlsErrorCode =
  | 'E_ACME_FAILED'
  | 'E_ACME_RATE_LIMITED'
  | 'E_ACME_WILDCARD'
  | 'E_NO_CERTIFICATE'
  | 'E_CERT_LOAD';

/** A failure to obtain, load or serve a certificate. */
export class TlsError extends MproxyError {
  /** When the CA asked to be tried again (a rate limit's `Retry-After`), if it did. */
  readonly retryAt: Date | undefined;

  constructor(code: TlsErrorCode, message: string, options?: { cause?: unknown; retryAt?: Date }) {
    super(code, message, options);
    this.retryAt = options?.retryAt;
  }
}
