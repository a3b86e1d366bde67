import { Observable, type OperatorFunction } from 'rxjs';
import type { Client } from './client.js';

/**
 * A sink that writes every chunk into a client and emits the client's demand (its
 * `writable$`: `false` while its last write waits in the tunnel's merge or the remote has it
 * paused). Feed that back to the source (see {@link pull}) and a busy tunnel holds at most one
 * write per client.
 *
 * The source's completion ends the client (`end`) and completes the output; the source's error
 * errors the output and destroys the client with that error (the remote gets its
 * `{message, code}`). The output also completes when the client finishes. Unsubscribing leaves
 * the client open.
 */
export function toClient(client: Client): OperatorFunction<Uint8Array, boolean> {
  return (source) =>
    new Observable<boolean>((subscriber) => {
      const subscription = client.writable$.subscribe(subscriber);
      subscription.add(
        source.subscribe({
          next: (chunk) => client.write(chunk),
          error(error: unknown) {
            // The output fails first: the client's finishing must not complete it.
            subscriber.error(error);
            client.destroy(error instanceof Error ? error : new Error(String(error)));
          },
          complete() {
            client.end();
            subscriber.complete();
          },
        }),
      );
      return subscription;
    });
}
