import { InvalidOptionError } from './errors.js';

/** Options of {@link FrameDecoder}. */
export interface DecoderOptions {
  /**
   * Largest body a frame may announce, in bytes. A header announcing more is rejected with
   * `E_FRAME_TOO_LARGE` as soon as it is read, before a byte of the body is buffered.
   * Default 16 MiB.
   */
  maxFrameSize?: number;
}

/** Defaults of {@link DecoderOptions}. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** Options with every default filled in, validated once. */
export interface ResolvedDecoderOptions {
  readonly maxFrameSize: number;
}

export function resolveDecoderOptions(options: DecoderOptions = {}): ResolvedDecoderOptions {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 0) {
    throw new InvalidOptionError(`maxFrameSize must be a non-negative integer, got ${String(maxFrameSize)}`);
  }
  return { maxFrameSize };
}
