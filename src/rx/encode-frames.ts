import { map, type OperatorFunction } from 'rxjs';
import { encodeFrame, encodeFrameParts } from '../codec/encode.js';
import type { FrameInit } from '../codec/frame.js';

/** Bodies up to this size are copied behind their header; larger ones are sent as they are. */
export const COALESCE_LIMIT = 16 * 1024;

/**
 * {@link FrameInit}s → the bytes of each frame, as the parts to write together (for example
 * with `transport.writev(parts)`): the packing operator through which every client's frames
 * merge back onto the wire.
 *
 * A frame with a body of up to 16 KiB is one part (copying a small body is cheaper than a
 * second write); a larger body follows its header as a part of its own, never copied.
 * A frame that cannot be encoded errors the stream with the codec's `InvalidFrameError`.
 */
export function encodeFrames(): OperatorFunction<FrameInit, readonly Uint8Array[]> {
  return map((frame) => {
    if ((frame.data?.length ?? 0) <= COALESCE_LIMIT) return [encodeFrame(frame)];
    const { header, body } = encodeFrameParts(frame);
    return [header, body];
  });
}
