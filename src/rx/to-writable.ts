import type { Writable } from 'node:stream';
import { Observable, type OperatorFunction } from 'rxjs';
import { abortStream } from '../transport/socket.js';

/**
 * A sink that writes every chunk into a Node writable stream and emits the stream's demand:
 * `false` when a write fills its buffer (`write()` returned false), `true` at its `'drain'`, and
 * the current state first. Feed that back to the source (see {@link pull}) and nothing piles up
 * in the stream beyond its high watermark.
 *
 * The source's completion ends the stream (`end()`, once its buffer is flushed); the source's
 * error aborts it (a TCP socket is reset, so the peer sees a failure, not a clean end), then
 * errors the output. Unsubscribing leaves the stream open.
 */
export function toWritable(stream: Writable): OperatorFunction<Uint8Array, boolean> {
  return (source) =>
    new Observable<boolean>((subscriber) => {
      const onDrain = (): void => subscriber.next(true);
      stream.on('drain', onDrain);
      subscriber.next(!stream.writableNeedDrain);
      const subscription = source.subscribe({
        next(chunk) {
          if (stream.destroyed) return;
          if (!stream.write(chunk)) subscriber.next(false);
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
      return () => {
        subscription.unsubscribe();
        stream.off('drain', onDrain);
      };
    });
}
