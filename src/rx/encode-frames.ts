import { Observable, type OperatorFunction } from 'rxjs';
import { encodeFrameParts } from '../codec/encode.js';
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
          let parts;
          try {
            parts = encodeFrameParts(frame);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          for (const chunk of coalesce(parts.header, parts.body)) subscriber.next(chunk);
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

/** One frame's header and body as the chunks to write: joined when the body is small. */
export function coalesce(header: Uint8Array, body: Uint8Array): Uint8Array[] {
  if (body.length === 0) return [header];
  if (body.length > COALESCE_LIMIT) return [header, body];
  const joined = Buffer.allocUnsafe(header.length + body.length);
  joined.set(header, 0);
  joined.set(body, header.length);
  return [joined];
}
