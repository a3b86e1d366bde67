import { decodeErrorBody } from '../codec/error-body.js';
import { MproxyError } from '../codec/errors.js';
import type { Frame } from '../codec/frame.js';

/** Codes raised by the tunnel layer; see `docs/errors.md`. */
export type TunnelErrorCode =
  | 'E_TUNNEL_CLOSED'
  | 'E_CLIENT_BUFFER_OVERFLOW'
  | 'E_TUNNEL_BUFFER_OVERFLOW'
  | 'E_NO_CONN'
  | 'E_NOT_ACCEPTING'
  | 'E_CLIENT_EXISTS'
  | 'E_ALREADY_SUBSCRIBED';

/** A failure of the tunnel or of one of its clients, raised on this side. */
export class TunnelError extends MproxyError {
  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The remote side reported that a client failed (an `error` frame). `code` is the remote's
 * code (`ECONNREFUSED`, `E_NO_CONN`, …), `E_UNKNOWN_ERR` when it sent none.
 */
export class RemoteError extends MproxyError {
  /** The client the error is about. */
  readonly clientId: string;

  constructor(code: string, message: string, clientId: string) {
    super(code, message);
    this.clientId = clientId;
  }
}

/** The {@link RemoteError} an `error` frame from the remote carries. */
export function remoteErrorOf(frame: Frame): RemoteError {
  const body = decodeErrorBody(frame.data);
  return new RemoteError(body.code, body.message, frame.id);
}
