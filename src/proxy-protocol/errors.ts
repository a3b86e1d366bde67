import { MproxyError } from '../codec/errors.js';

/** Codes of PROXY protocol failures; see `docs/errors.md`. */
export type ProxyProtocolErrorCode =
  | 'E_PROXY_SIGNATURE'
  | 'E_PROXY_MALFORMED'
  | 'E_PROXY_TOO_LONG'
  | 'E_PROXY_TRUNCATED'
  | 'E_PROXY_TIMEOUT'
  | 'E_PROXY_UNTRUSTED';

/** A PROXY protocol header that could not be read, or came from a source not trusted to send one. */
export class ProxyProtocolError extends MproxyError {
  constructor(code: ProxyProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
