import { BehaviorSubject, Observable, distinctUntilChanged, type OperatorFunction } from 'rxjs';

/**
 * Runs a source into a sink with the sink's demand fed back to the source: `source(ready$)` is
 * piped into `sink`, and every value the sink emits (`true`: send more, `false`: hold) becomes
 * the latest value of `ready$`. The sinks {@link toClient} and {@link toWritable} emit their
 * demand; the sources {@link fromReadable} and {@link fromClient} take it.
 *
 * ```ts
 * // A socket's bytes into a client, and the client's into the socket, with backpressure both ways.
 * pull((ready$) => fromReadable(socket, ready$), toClient(client)).subscribe();
 * pull((ready$) => fromClient(client, ready$), toWritable(socket)).subscribe();
 * ```
 *
 * Completes when the sink's output completes, errors when it errors; unsubscribing
 * unsubscribes both. `ready$` starts `true` until the sink says otherwise (sinks say at once).
 */
export function pull<T>(source: (ready$: Observable<boolean>) => Observable<T>, sink: OperatorFunction<T, boolean>): Observable<never> {
  return new Observable<never>((subscriber) => {
    const demand = new BehaviorSubject(true);
    return source(demand.pipe(distinctUntilChanged()))
      .pipe(sink)
      .subscribe({
        next: (ready) => demand.next(ready),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
  });
}
