import { Observable, Subscription, type OperatorFunction } from 'rxjs';

/** One input of {@link fairMerge}: a stream of items, and whether it is held back now. */
export interface Lane<T> {
  /** The lane's items, in the order they must leave. */
  readonly items$: Observable<T>;
  /**
   * While the latest value is `true`, the lane's items wait (and the lane takes no turn); a lane
   * without it is never paused.
   */
  readonly paused$?: Observable<boolean>;
}

/** Options of {@link fairMerge}. */
export interface FairMergeOptions<T> {
  /**
   * The sink's demand: items leave only while the latest value is `true`. A sink that turns it
   * `false` while taking an item (a transport passing its high watermark) stops the merge
   * before the next item.
   */
  readonly ready$: Observable<boolean>;
  /** What an item costs against a lane's quantum (for frames: their body's bytes). */
  readonly size: (item: T) => number;
  /** What a lane may send per turn, in the units of `size`. Default 64 KiB. */
  readonly quantum?: number;
}

/** The quantum of {@link fairMerge} when none is given: one socket read. */
export const DEFAULT_QUANTUM = 64 * 1024;

interface LaneState<T> {
  readonly queue: T[];
  deficit: number;
  paused: boolean;
  /** In the ring of lanes waiting for a turn (or holding the current one). */
  active: boolean;
  done: boolean;
  readonly subscription: Subscription;
}

/**
 * Merges lanes fairly into one stream, by deficit round-robin, sending only while the sink is
 * ready. The rule:
 *
 * 1. Each lane queues its items; a lane with items that is not paused waits in a ring.
 * 2. While the sink is ready, the lane at the front of the ring takes a turn: `quantum` is added
 *    to its deficit, and items leave from its head while each costs no more than the deficit.
 * 3. A lane that still has items goes to the back of the ring, keeping its deficit; one that is
 *    empty or paused leaves the ring with its deficit reset to 0.
 * 4. A sink that stops being ready stops the turn where it is; it goes on there when ready again.
 *
 * Nothing is dropped: items wait in their lane until they can leave. The output completes once
 * the source of lanes and every lane have completed and every queue is empty; an error of the
 * source or of any lane errors the output (queued items are dropped). Unsubscribing
 * unsubscribes the source, every lane and `ready$`.
 */
export function fairMerge<T>(options: FairMergeOptions<T>): OperatorFunction<Lane<T>, T> {
  const { ready$, size, quantum = DEFAULT_QUANTUM } = options;
  if (!(quantum > 0)) throw new RangeError(`quantum must be positive, got ${String(quantum)}`);
  return (source) =>
    new Observable<T>((subscriber) => {
      const lanes = new Set<LaneState<T>>();
      const ring: LaneState<T>[] = [];
      let current: LaneState<T> | undefined;
      let ready = false;
      let draining = false;
      let sourceDone = false;

      const fail = (error: unknown): void => subscriber.error(error);
      /** Whether the lane's head item may leave in the turn it has. */
      const canSend = (lane: LaneState<T>): boolean =>
        !lane.paused && lane.queue.length > 0 && size(lane.queue[0] as T) <= lane.deficit;
      const settle = (lane: LaneState<T>): void => {
        if (lane.done && lane.queue.length === 0) {
          lanes.delete(lane);
          lane.subscription.unsubscribe();
        }
        if (sourceDone && lanes.size === 0) subscriber.complete();
      };
      const activate = (lane: LaneState<T>): void => {
        if (lane.active || lane.paused || lane.queue.length === 0) return;
        lane.active = true;
        ring.push(lane);
      };
      const drain = (): void => {
        if (draining) return;
        draining = true;
        try {
          while (ready && !subscriber.closed) {
            let lane = current;
            if (!lane) {
              lane = ring.shift();
              if (!lane) break;
              lane.deficit += quantum;
              current = lane;
            }
            while (ready && !subscriber.closed && canSend(lane)) {
              lane.deficit -= size(lane.queue[0] as T);
              subscriber.next(lane.queue.shift() as T);
            }
            // Interrupted mid-turn by the sink: the turn goes on there.
            if (canSend(lane)) break;
            current = undefined;
            if (lane.paused || lane.queue.length === 0) {
              lane.active = false;
              lane.deficit = 0;
              settle(lane);
            } else {
              ring.push(lane);
            }
          }
        } finally {
          draining = false;
        }
      };

      subscriber.add(
        ready$.subscribe({
          next(value) {
            ready = value;
            if (ready) drain();
          },
          error: fail,
        }),
      );
      subscriber.add(() => {
        for (const lane of lanes) lane.subscription.unsubscribe();
        lanes.clear();
        ring.length = 0;
      });
      subscriber.add(
        source.subscribe({
          next(input) {
            const lane: LaneState<T> = { queue: [], deficit: 0, paused: false, active: false, done: false, subscription: new Subscription() };
            lanes.add(lane);
            const pause = (paused: boolean): void => {
              if (lane.paused === paused) return;
              lane.paused = paused;
              // A lane paused in the ring leaves it when its turn comes, without sending (see drain).
              if (paused) return;
              activate(lane);
              drain();
            };
            if (input.paused$) lane.subscription.add(input.paused$.subscribe({ next: pause, error: fail }));
            lane.subscription.add(
              input.items$.subscribe({
                next(item) {
                  lane.queue.push(item);
                  activate(lane);
                  drain();
                },
                error: fail,
                complete() {
                  lane.done = true;
                  settle(lane);
                },
              }),
            );
          },
          error: fail,
          complete() {
            sourceDone = true;
            if (lanes.size === 0) subscriber.complete();
          },
        }),
      );
    });
}
