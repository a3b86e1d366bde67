import { MproxyError } from '../codec/errors.js';

/** Codes raised by the auth layer; see `docs/errors.md` and `docs/auth.md`. */
export type AuthErrorCode =
  | 'E_TOKEN_MISSING'
  | 'E_TOKEN_MALFORMED'
  | 'E_TOKEN_SIGNATURE'
  | 'E_TOKEN_EXPIRED'
  | 'E_TOKEN_NOT_YET_VALID'
  | 'E_TOKEN_CLAIMS'
  | 'E_TOKEN_REVOKED'
  | 'E_NAME_TAKEN'
  | 'E_PORT_TAKEN';

/**
 * A token was refused, or a grant could not be taken. Safe to show to the device: messages
 * never quote the secret, and quote token contents only where the device sent them itself.
 */
export class AuthError extends MproxyError {
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
