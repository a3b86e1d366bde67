import type { Readable } from 'node:stream';
import { Observable } from 'rxjs';

/**
 * A Node readable stream (a socket, a file) as an Observable of its chunks, read only while
 * `ready$`'s latest value is `true`.
 *
 * The stream is read in paused mode: `read()`, which is what asks a stream for more, is called
 * only while ready. A stream whose `readableHighWaterMark` is 0 therefore stops at the read that
 * delivered its last chunk, and what it is sent next waits in the kernel, not in the process; any
 * other stream reads ahead up to its mark (a socket: at most one read, up to 64 KiB, past it).
 *
 * Completes at the stream's end (or when it closes without one); errors with the stream's
 * error. Unsubscribing leaves the stream open, with what it holds unread.
 *
 * ```ts
 * fromReadable(socket, client.writable$).pipe(toClient(client)).subscribe();
 * ```
 */
export function fromReadable(stream: Readable, ready$: Observable<boolean>): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) => {
    let ready = false;
    let reading = false;
    // Called again from inside next() (a consumer that turns ready$ back on), it lets the running
    // loop go on.
    const onReadable = (): void => {
      if (reading) return;
      reading = true;
      try {
        let chunk: Buffer | string | null;
        while (ready && !subscriber.closed && (chunk = stream.read() as Buffer | string | null) !== null) {
          subscriber.next(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        }
      } finally {
        reading = false;
      }
    };
    const onEnd = (): void => subscriber.complete();
    const onError = (error: Error): void => subscriber.error(error);
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onEnd);
    const gate = ready$.subscribe((value) => {
      ready = value;
      if (ready) onReadable();
    });
    return () => {
      gate.unsubscribe();
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
    };
  });
}
