import { Observable, type OperatorFunction } from 'rxjs';
import { FrameDecoder } from '../codec/decode.js';
import { ProtocolError } from '../codec/errors.js';
import type { Frame } from '../codec/frame.js';
import type { DecoderOptions } from '../codec/options.js';

/**
 * Byte chunks (cut anywhere) → {@link Frame}s.
 *
 * A protocol error becomes an error notification carrying the `ProtocolError`, after the
 * frames that were complete before the bad byte. When the source completes inside a frame,
 * the result errors with `E_TRUNCATED`. Each subscription has its own decoder.
 */
export function decodeFrames(options?: DecoderOptions): OperatorFunction<Uint8Array, Frame> {
  return (source) =>
    new Observable<Frame>((subscriber) => {
      const decoder = new FrameDecoder(options);
      return source.subscribe({
        next(chunk) {
          let frames: readonly Frame[];
          try {
            frames = decoder.push(chunk);
          } catch (error) {
            if (error instanceof ProtocolError) for (const frame of error.frames) subscriber.next(frame);
            subscriber.error(error);
            return;
          }
          for (const frame of frames) subscriber.next(frame);
        },
        error: (error: unknown) => subscriber.error(error),
        complete() {
          try {
            decoder.end();
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.complete();
        },
      });
    });
}
