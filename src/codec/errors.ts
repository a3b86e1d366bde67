/**
 * Every error mproxy raises is an {@link MproxyError} with a stable `code` string.
 * Branch on `err.code`, never on `err.message`: messages may be reworded, codes never change.
 * `docs/errors.md` lists every code.
 */
import type { Frame } from './frame.js';

/** The stable error codes raised by the codec layer. */
export type CodecErrorCode =
  | 'E_BAD_VERSION'
  | 'E_BAD_HEADER'
  | 'E_FRAME_TOO_LARGE'
  | 'E_TRUNCATED'
  | 'E_HEADER_TOO_LONG'
  | 'E_INVALID_FIELD'
  | 'E_INVALID_FRAME'
  | 'E_INVALID_OPTION';

/** Base class of every error thrown or emitted by mproxy. */
export class MproxyError extends Error {
  /** Stable, documented identifier of the failure (see `docs/errors.md`). */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The bytes on the wire are not valid M-PROXY v1. A decoder that raised one is failed for good:
 * the stream cannot be resynchronised, since nothing marks where the next frame starts.
 */
export class ProtocolError extends MproxyError {
  /**
   * Frames completed in the same `push()` before the bad byte was reached, so that a caller
   * loses nothing that was valid.
   */
  frames: readonly Frame[] = [];
}

/** A frame given to the encoder cannot be represented on the wire without corrupting it. */
export class InvalidFrameError extends MproxyError {}

/** An option passed to a constructor or factory is out of range or of the wrong type. */
export class InvalidOptionError extends MproxyError {
  constructor(message: string) {
    super('E_INVALID_OPTION', message);
  }
}
