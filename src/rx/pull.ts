import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';

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
 * unsubscribes both. `ready$` replays the latest demand, starts `true` until the sink says
 * otherwise (sinks say at once), and emits only changes. It is meant for the one source.
 */
export function pull<T>(source: (ready$: Observable<boolean>) => Observable<T>, sink: OperatorFunction<T, boolean>): Observable<never> {
  return new Observable<never>((subscriber) => {
    // A plain holder, not a BehaviorSubject: one per pipeline, and a relay has one per visitor.
    let ready = true;
    // The latest reader; once unsubscribed it ignores what it is told.
    let reader: Subscriber<boolean> | undefined;
    const ready$ = new Observable<boolean>((subscriber) => {
      reader = subscriber;
      subscriber.next(ready);
    });
    return source(ready$).pipe(sink).subscribe({
      next(value) {
        if (value === ready) return;
        ready = value;
        reader?.next(value);
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
  });
}
