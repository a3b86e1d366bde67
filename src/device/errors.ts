import { MproxyError } from '../codec/errors.js';

/** Codes raised by the device; see `docs/errors.md`. */
export type DeviceErrorCode = 'E_AUTH_REFUSED' | 'E_RELAY_UNREACHABLE' | 'E_RELAY_CLOSED' | 'E_NO_FORWARD' | 'E_NO_TOKEN';

/** A failure of the device role. */
export class DeviceError extends MproxyError {
  constructor(code: DeviceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
