import { MproxyError } from '../codec/errors.js';

/** Codes raised by the control channel itself; see `docs/control.md`. */
export type ControlErrorCode =
  | 'E_UNKNOWN_COMMAND'
  | 'E_BAD_COMMAND'
  | 'E_BAD_RESPONSE'
  | 'E_CONTROL_TIMEOUT'
  | 'E_CONTROL_CLOSED'
  | 'E_HANDLER_EXISTS'
  | 'E_INTERNAL';

/** Options of a {@link ControlError}. */
export interface ControlErrorOptions {
  /** True when the remote sent the error (`[-id, {message, code}]`); false when raised here. */
  readonly remote?: boolean;
  /** The command of the request the error is about, when there is one. */
  readonly command?: string;
  readonly cause?: unknown;
}

/**
 * A failure on the control channel. Either raised here (`remote: false`, a
 * {@link ControlErrorCode}) or the remote's answer to one of our requests (`remote: true`, with
 * whatever code the remote chose, `E_UNKNOWN_ERR` when it gave none).
 */
export class ControlError extends MproxyError {
  /** True when this is the remote's `{message, code}`, false when raised on this side. */
  readonly remote: boolean;
  /** The command of the request the error is about, if any. */
  readonly command: string | undefined;

  // `string & {}` keeps editor completion of the local codes while allowing any remote code.
  constructor(code: ControlErrorCode | (string & {}), message: string, options: ControlErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.remote = options.remote ?? false;
    this.command = options.command;
  }
}
