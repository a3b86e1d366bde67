import { MproxyError } from '../codec/errors.js';

/**
 * The stable error codes of the transport layer (like every mproxy error's: branch on them).
 *
 * - `E_TRANSPORT_ERROR`: the carrier reported a failure (a socket or WebSocket `'error'`);
 *   the original error is the `cause`.
 * - `E_TRANSPORT_CLOSED`: the carrier closed without a clean end: a WebSocket close code other
 *   than 1000 or 1005 (see `closeCode`), a stream closed before its end was read, or the peer of
 *   a {@link memoryPair} was destroyed.
 * - `E_TEXT_MESSAGE`: a WebSocket peer sent a text message; M-PROXY travels in binary messages.
 * - `E_ALREADY_SUBSCRIBED`: `incoming$` was subscribed while another subscription was active.
 */
export type TransportErrorCode =
  | 'E_TRANSPORT_ERROR'
  | 'E_TRANSPORT_CLOSED'
  | 'E_TEXT_MESSAGE'
  | 'E_ALREADY_SUBSCRIBED';

/** A transport failed; see {@link TransportErrorCode} for what each code means. */
export class TransportError extends MproxyError {
  declare readonly code: TransportErrorCode;

  /** The WebSocket close code, when the failure is an abnormal WebSocket close. */
  readonly closeCode: number | undefined;

  constructor(code: TransportErrorCode, message: string, options: { cause?: unknown; closeCode?: number } = {}) {
    super(code, message, 'cause' in options ? { cause: options.cause } : undefined);
    this.closeCode = options.closeCode;
  }
}
