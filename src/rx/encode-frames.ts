import { Observable, type OperatorFunction } from 'rxjs';
import { encodeFrame, encodeFrameParts } from '../codec/encode.js';
import type { FrameInit } from '../codec/frame.js';

/** Bodies up to this size are copied behind their header; larger ones are sent as they are. */
export const COALESCE_LIMIT = 16 * 1024;

/**
 * {@link FrameInit}s → byte chunks: the packing operator through which every client's frames
 * merge back onto the wire.
 *
 * A frame with a body of up to 16 KiB becomes one chunk (copying a small body is cheaper than
 * a second write); a larger body follows its header as a chunk of its own, never copied.
 * A frame that cannot be encoded errors the stream with the codec's `InvalidFrameError`.
 */
export function encodeFrames(): OperatorFunction<FrameInit, Uint8Array> {
  return (source) =>
    new Observable<Uint8Array>((subscriber) =>
      source.subscribe({
        next(frame) {
          let chunks: Uint8Array[];
          try {
            // A small body is copied behind its header by encodeFrame; a large one is not copied.
            if ((frame.data?.length ?? 0) > COALESCE_LIMIT) {
              const { header, body } = encodeFrameParts(frame);
              chunks = [header, body];
            } else {
              chunks = [encodeFrame(frame)];
            }
          } catch (error) {
            subscriber.error(error);
            return;
          }
          for (const chunk of chunks) subscriber.next(chunk);
        },
        error(error) {
          subscriber.error(error);
        },
        complete() {
          subscriber.complete();
        },
      }),
    );
}
