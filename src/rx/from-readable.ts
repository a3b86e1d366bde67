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
    const drain = readWhile(stream, () => ready && !subscriber.closed, (chunk) => subscriber.next(chunk));
    const onEnd = (): void => subscriber.complete();
    const onError = (error: Error): void => subscriber.error(error);
    stream.on('readable', drain);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onEnd);
    const gate = ready$.subscribe((value) => {
      ready = value;
      if (ready) drain();
    });
    return () => {
      gate.unsubscribe();
      stream.off('readable', drain);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onEnd);
    };
  });
}

/**
 * The one way this library reads a stream: a function that takes chunks out of `stream` and hands
 * them to `deliver` for as long as `may()` holds and the stream has some, and that is safe to call
 * again from inside `deliver` (a delivery that gives credit back calls it: the running loop goes on
 * instead). A `null` from `read()` with `may()` still true is what asks the stream for more.
 *
 * @internal
 */
export function readWhile(stream: Readable, may: () => boolean, deliver: (chunk: Uint8Array) => void): () => void {
  let reading = false;
  return () => {
    if (reading) return;
    reading = true;
    try {
      while (may()) {
        const chunk: Buffer | string | null = stream.read();
        if (chunk === null) break;
        deliver(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    } finally {
      reading = false;
    }
  };
}
