import { InvalidOptionError } from '../codec/errors.js';

/** Options shared by the sniffers. */
export interface SniffOptions {
  /**
   * The most bytes a visitor may send before its ClientHello or its HTTP request head is
   * complete. Past it the answer is `too-large`, so that a visitor who never finishes cannot
   * make the caller buffer without end. Default {@link DEFAULT_SNIFF_MAX_BYTES} (16 KiB).
   */
  maxBytes?: number;
}

/** Default of {@link SniffOptions.maxBytes}: 16 KiB. */
export const DEFAULT_SNIFF_MAX_BYTES = 16 * 1024;

/**
 * The cap with its default filled in. A bad option is the caller's bug, not the visitor's, so it
 * throws, unlike anything the bytes themselves can cause.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` when `maxBytes` is not a positive integer
 *   (the message names it `name`: the relay's option is `sniffMaxBytes`).
 */
export function resolveMaxBytes(options: SniffOptions | undefined, name = 'maxBytes'): number {
  const maxBytes = options?.maxBytes ?? DEFAULT_SNIFF_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new InvalidOptionError(`${name} must be a positive integer, got ${String(maxBytes)}`);
  }
  return maxBytes;
}
