import type { Readable } from 'node:stream';
import { Observable } from 'rxjs';

/**
 * A Node readable stream (a socket, a file) as an Observable of its chunks, read only while
 * `ready$`'s latest value is `true`: the stream is paused otherwise, so what it is sent waits in
 * its own buffer (one read, up to 64 KiB for a socket) and in the kernel, not in the process.
 *
 * Completes at the stream's end (or when it closes without one); errors with the stream's
 * error. Unsubscribing leaves the stream paused and open.
 *
 * ```ts
 * fromReadable(socket, client.writable$).pipe(toClient(client)).subscribe();
 * ```
 */
export function fromReadable(stream: Readable, ready$: Observable<boolean>): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) => {
    const onData = (chunk: Buffer | string): void => {
      subscriber.next(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    };
    const onEnd = (): void => subscriber.complete();
    const onError = (error: Error): void => subscriber.error(error);
    // Before the 'data' listener goes on: a stream never paused would start flowing with it.
    const gate = ready$.subscribe((ready) => {
      if (ready) stream.resume();
      else stream.pause();
    });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onEnd);
    return () => {
      gate.unsubscribe();
      stream.pause();
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
    };
  });
}
