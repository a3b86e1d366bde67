import { MproxyError } from '../codec/errors.js';

/** Codes raised by the relay; see `docs/errors.md`. */
export type RelayErrorCode =
  | 'E_INVALID_PROTOCOL'
  | 'E_SNIFF_TIMEOUT'
  | 'E_NO_DEVICE'
  | 'E_PORT_UNAVAILABLE'
  | 'E_PORT_NOT_ALLOWED'
  | 'E_NO_TOKEN'
  | 'E_WEAK_SECRET'
  | 'E_RELAY_CLOSED';

/** A failure of the relay role. */
export class RelayError extends MproxyError {
  constructor(code: RelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
