import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { expect } from 'vitest';
import { FrameDecoder, encodeFrame, type Client, type Frame, type FrameInit, type Transport } from '../../src/index.js';
import type { MproxyClient } from '../../src/rx/client.js';

/** The tunnel's side of a client: what a test drives to play the remote (`receive`, `remoteEnded`). */
export const internal = (client: Client | undefined): MproxyClient => client as MproxyClient;

export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/**
 * Runs marbles, then the checks the callback returns, once virtual time has been flushed.
 * (`TestScheduler.run` only hands back what the callback returned; it never calls it.)
 */
export function marbles(callback: (helpers: RunHelpers) => (() => void) | void): void {
  const checks = testScheduler().run(callback);
  if (checks) checks();
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
export const bytes = (init: FrameInit): Uint8Array => encodeFrame(init);

export const A = { family: 'IPv4', address: '10.0.0.1', port: 1111, service: 'https', serviceport: 443, name: 'a.example' } as const;
export const B = { family: 'IPv6', address: '::1', port: 2222, service: 'tcp', serviceport: 5050, name: '' } as const;
export const ID_A = 'IPv4,10.0.0.1,1111';
export const ID_B = 'IPv6,::1,2222';

/** A frame as tests compare it: the body as text. */
export interface Seen {
  kind: string;
  id: string;
  data: string;
}
export const seen = (frame: Frame): Seen => ({ kind: frame.kind, id: frame.id, data: Buffer.from(frame.data).toString() });

/**
 * A transport driven by a test: `incoming$` is whatever the test gives (marbles or a Subject),
 * writes are decoded back into frames, congestion is set by hand, and the queue reads
 * `queue.buffered` (0 unless a test sets it).
 */
export function scriptedTransport(incoming$: Observable<Uint8Array>) {
  const written: Frame[] = [];
  const queue = { buffered: 0 };
  const decoder = new FrameDecoder();
  const congested = new BehaviorSubject(false);
  const closed = new Subject<{ error?: Error }>();
  const state = { open: true, closedCleanly: false, destroyedWith: undefined as Error | undefined };
  const transport: Transport = {
    incoming$,
    write(chunk) {
      written.push(...decoder.push(chunk));
      return !congested.value;
    },
    writev(chunks) {
      for (const chunk of chunks) {
        written.push(...decoder.push(chunk));
        }
      return !congested.value;
    },
    get bufferedAmount() {
      return queue.buffered;
    },
    congested$: congested.asObservable(),
    closed$: closed.asObservable(),
    get isOpen() {
      return state.open;
    },
    close() {
      state.open = false;
      state.closedCleanly = true;
      closed.next({});
    },
    destroy(error) {
      state.open = false;
      state.destroyedWith = error;
      closed.next(error ? { error } : {});
    },
  };
  return { transport, written, congested, state, queue };
}
