import { InvalidOptionError } from './errors.js';

/** Options of {@link FrameDecoder}. */
export interface DecoderOptions {
  /**
   * Largest body a frame may announce, in bytes. A header announcing more is rejected with
   * `E_FRAME_TOO_LARGE` as soon as it is read, before a byte of the body is buffered.
   * Default 16 MiB.
   */
  maxFrameSize?: number;
  /**
   * Hand a data frame's body on as it arrives: a data frame whose body straddles input chunks
   * comes out as several data frames with the same header, each body a view of the chunk it
   * lies in, instead of one frame whose body is copied together from the chunks. Each client's
   * byte stream is the same either way. Only data frames are split, and never those of service
   * `udp`, whose frame is a datagram. Default false (a tunnel sets it: a body read from a
   * socket straddles reads almost always).
   */
  splitData?: boolean;
}

/** Defaults of {@link DecoderOptions}. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** Options with every default filled in, validated once. */
export interface ResolvedDecoderOptions {
  readonly maxFrameSize: number;
  readonly splitData: boolean;
}

export function resolveDecoderOptions(options: DecoderOptions = {}): ResolvedDecoderOptions {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 0) {
    throw new InvalidOptionError(`maxFrameSize must be a non-negative integer, got ${String(maxFrameSize)}`);
  }
  return { maxFrameSize, splitData: options.splitData === true };
}
