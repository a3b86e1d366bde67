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

/**
 * A listener of the relay could not bind. `code` is Node's (`EADDRINUSE`, `EACCES`, …);
 * `option` names the option whose address it was (`listen` or `tunnel`).
 */
export class ListenError extends MproxyError {
  readonly option: 'listen' | 'tunnel';
  readonly address: string;

  constructor(option: 'listen' | 'tunnel', address: string, cause: NodeJS.ErrnoException) {
    // Node says "listen EADDRINUSE: address already in use 127.0.0.1:8443": keep the middle.
    const why = cause.message.replace(/^\w+ E[A-Z]+: /, '').replace(/\s+\S+:\d+$/, '');
    super(cause.code ?? 'E_LISTEN', `${option} ${address}: ${why}`, { cause });
    this.option = option;
    this.address = address;
  }
}
