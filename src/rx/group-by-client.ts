import { Observable, Subject, type GroupedObservable, type OperatorFunction } from 'rxjs';
import type { Frame } from '../codec/frame.js';
import { remoteErrorOf, type RemoteError } from './errors.js';

/** Options of {@link groupByClient}. */
export interface GroupByClientOptions {
  /**
   * Ids whose group must end now (the client was closed on this side): the group completes and
   * is forgotten, so a later frame with the same id opens a new group.
   */
  readonly release$?: Observable<string>;
  /**
   * True for ids this side opened itself (`tunnel.open()`) and still has: their `end`, `error`,
   * `pause` and `resume` frames open a group too, so that a remote that ends or fails such a
   * client before sending it any data (e.g. its local service refused the connection) is heard.
   */
  readonly isOpen?: (id: string) => boolean;
}

/**
 * Client frames → one group per client id.
 *
 * - A `connection` or `data` frame with an id that has no group opens one (the group is emitted,
 *   then the frame goes into it). `end`, `error`, `pause` and `resume` frames for an id without a
 *   group are dropped (there is nothing to end or to pause), unless `isOpen(id)` says this side
 *   opened that client: then they open its group.
 * - A group completes on its client's `end` frame and errors with a {@link RemoteError} on its
 *   `error` frame; both frames are consumed, not emitted. Either way it is forgotten, so groups
 *   never leak.
 * - `control` frames belong to no client and are skipped.
 * - Groups are hot: subscribe to each synchronously when it is emitted, or its frames are lost.
 * - When the source completes or errors, every open group does the same. When the result is
 *   unsubscribed, open groups complete.
 */
export function groupByClient(
  options: GroupByClientOptions = {},
): OperatorFunction<Frame, GroupedObservable<string, Frame>> {
  return (source) =>
    new Observable<GroupedObservable<string, Frame>>((subscriber) => {
      const groups = new Map<string, Subject<Frame>>();
      const endAll = (end: (group: Subject<Frame>) => void): void => {
        for (const group of groups.values()) end(group);
        groups.clear();
      };
      const release = options.release$?.subscribe((id) => {
        const group = groups.get(id);
        groups.delete(id);
        group?.complete();
      });
      const subscription = source.subscribe({
        next(frame) {
          if (frame.kind === 'control') return;
          const id = frame.id;
          let group = groups.get(id);
          // A `connection` or `data` frame opens a group; others only for a client still open.
          if (!group && (frame.kind === 'connection' || frame.kind === 'data' || options.isOpen?.(id))) {
            group = new Subject<Frame>();
            groups.set(id, group);
            subscriber.next(Object.assign(group.asObservable(), { key: id }));
          }
          if (!group) return;
          if (frame.kind !== 'end' && frame.kind !== 'error') {
            group.next(frame);
            return;
          }
          groups.delete(id);
          if (frame.kind === 'error') group.error(remoteErrorOf(frame));
          else group.complete();
        },
        error(error) {
          endAll((group) => group.error(error));
          subscriber.error(error);
        },
        complete() {
          endAll((group) => group.complete());
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        release?.unsubscribe();
        endAll((group) => group.complete());
      };
    });
}
