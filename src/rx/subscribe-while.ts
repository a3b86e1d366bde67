import { Observable, Subscription, type MonoTypeOperatorFunction } from 'rxjs';

/**
 * Keeps the source subscribed only while `ready$`'s latest value is `true`: unsubscribed when it
 * turns `false`, subscribed again when it turns `true`. For a source that keeps what it could not
 * deliver for its next subscriber and stops its producer in between (a transport's `incoming$`),
 * this is a pause that loses nothing.
 *
 * What the source emits before its subscription returns is passed on even if `ready$` turned
 * `false` meanwhile (it is in memory already); the source is then unsubscribed at once. Completes
 * and errors with the source; errors with `ready$`. Unsubscribing unsubscribes both.
 *
 * @internal
 */
export function subscribeWhile<T>(ready$: Observable<boolean>): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let ready = false;
      let inner: Subscription | undefined;
      // A change told while the source is being subscribed waits until that subscription exists.
      let subscribing = false;
      const apply = (): void => {
        while (!subscriber.closed && !subscribing && ready !== (inner !== undefined)) {
          if (inner) {
            const stopping = inner;
            inner = undefined;
            stopping.unsubscribe();
            continue;
          }
          const started = new Subscription();
          inner = started;
          subscribing = true;
          try {
            started.add(
              source.subscribe({
                next: (value) => subscriber.next(value),
                error: (error: unknown) => subscriber.error(error),
                complete: () => subscriber.complete(),
              }),
            );
          } finally {
            subscribing = false;
          }
        }
      };
      const gate = ready$.subscribe({
        next: (value) => {
          ready = value;
          apply();
        },
        error: (error: unknown) => subscriber.error(error),
      });
      return () => {
        gate.unsubscribe();
        inner?.unsubscribe();
      };
    });
}
