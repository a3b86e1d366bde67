import { MproxyError } from '../codec/errors.js';

/** Codes of the admin listener; see `docs/errors.md`. */
export type AdminErrorCode = 'E_ADMIN_TOKEN_REQUIRED' | 'E_ADMIN_NO_METRICS';

/** The admin listener cannot start as asked. */
export class AdminError extends MproxyError {
  constructor(code: AdminErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
