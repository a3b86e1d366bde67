import type { Writable } from 'node:stream';
import { Observable, type OperatorFunction } from 'rxjs';
import { abortStream } from '../transport/stream.js';

/**
 * What {@link toWritable} lets a stream hold before it asks for no more: a few socket reads, so
 * that the kernel always has the next bytes at hand while the event loop turns.
 */
export const WRITABLE_WINDOW = 256 * 1024;

/**
 * A sink that writes every chunk into a Node writable stream and emits the stream's demand:
 * `false` once it holds `window` bytes or more (its `writableLength`), `true` when writes have
 * left it below that, and the current state first. Feed that back to the source (see
 * {@link pull}) and nothing piles up in the stream beyond the window and the write that crossed
 * it.
 *
 * The source's completion ends the stream (`end()`, once its buffer is flushed); the source's
 * error aborts it (a TCP socket is reset, so the peer sees a failure, not a clean end), then
 * errors the output. Unsubscribing leaves the stream open.
 */
export function toWritable(stream: Writable, window = WRITABLE_WINDOW): OperatorFunction<Uint8Array, boolean> {
  return (source) =>
    new Observable<boolean>((subscriber) => {
      let ready = stream.writableLength < window;
      // After each write, and as each one leaves the stream (one callback for all of them).
      const check = (): void => {
        if (ready === stream.writableLength < window) return;
        ready = !ready;
        subscriber.next(ready);
      };
      subscriber.next(ready);
      return source.subscribe({
        next(chunk) {
          if (stream.destroyed) return;
          stream.write(chunk, check);
          check();
        },
        error(error: unknown) {
          abortStream(stream);
          subscriber.error(error);
        },
        complete() {
          if (!stream.destroyed && !stream.writableEnded) stream.end();
          subscriber.complete();
        },
      });
    });
}
