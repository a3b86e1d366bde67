import { Observable, concat, defer, interval, map, of, startWith, takeUntil } from 'rxjs';

/** A client's flow, sampled: see {@link Client.stats}. */
export interface ClientStats {
  /** Data bytes received from the remote so far. */
  readonly bytesIn: number;
  /** Data bytes given to `write` so far. */
  readonly bytesOut: number;
  /** Inbound bytes held here or by the consumer (its reported backlog), not yet taken. */
  readonly bufferedIn: number;
  /** Outbound bytes written but not yet handed to the transport. */
  readonly bufferedOut: number;
  /** Whether the remote has paused this client now (its outbound bytes wait). */
  readonly paused: boolean;
  /** How long the remote has kept this client paused, all told (ms). */
  readonly pausedMs: number;
  /** When the client was made (ms since the epoch). */
  readonly openedAt: number;
}

/** A tunnel's flow, sampled: see {@link Tunnel.stats}. */
export interface TunnelStats {
  /** Clients open now. */
  readonly clients: number;
  /** Data bytes received for all clients, those closed included. */
  readonly bytesIn: number;
  /** Data bytes written by all clients, those closed included. */
  readonly bytesOut: number;
  /** Inbound bytes held in the tunnel's clients, not yet taken by their consumers. */
  readonly bufferedIn: number;
  /** Outbound bytes written by clients and not yet handed to the transport. */
  readonly bufferedOut: number;
  /** Clients the remote has paused now. */
  readonly pausedClients: number;
}

/**
 * A sample now, then one every second, and a last one when `closed$` emits; then it completes.
 * Nothing runs while nobody subscribes: the counters it reads are plain fields.
 */
export function sampleStats<T>(sample: () => T, closed$: Observable<unknown>): Observable<T> {
  return concat(interval(1000).pipe(startWith(0), takeUntil(closed$), map(() => sample())), defer(() => of(sample())));
}
