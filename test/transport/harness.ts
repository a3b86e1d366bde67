/**
 * Shared helpers and the behaviour every transport must show, run against each kind over its
 * real carrier.
 */
import { createHash, randomBytes } from 'node:crypto';
import { filter, firstValueFrom, type Subscription } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { TransportError, type TransportErrorCode } from '../../src/transport/errors.js';
import type { Transport, TransportOptions } from '../../src/transport/transport.js';

/** Two connected transports and a way to cut `b`'s carrier from under it. */
export interface Pair {
  readonly a: Transport;
  readonly b: Transport;
  /** Kills b's carrier the hard way (a TCP reset, a ws terminate…). */
  terminateB(): void;
}

export interface Kind {
  readonly name: string;
  /** Opens a pair; `defer` registers cleanup run after the test, in reverse order. */
  open(options: TransportOptions, defer: (cleanup: () => unknown) => void): Promise<Pair>;
  /** The code `a` fails with when `b` is terminated or destroyed. */
  readonly peerFailureCode: TransportErrorCode;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Resolves after `turns` trips through the event loop's check phase: lets I/O settle. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Writes `data` in chunks of varying size, honouring backpressure; every third one as writev. */
export async function pump(transport: Transport, data: Uint8Array, maxChunk = 96 * 1024): Promise<void> {
  let offset = 0;
  let n = 0;
  while (offset < data.length) {
    const size = Math.min(data.length - offset, 1 + ((n * 7919) % maxChunk));
    const chunk = data.subarray(offset, offset + size);
    offset += size;
    n++;
    const ok = n % 3 === 0 ? transport.writev([chunk.subarray(0, 5), chunk.subarray(5)]) : transport.write(chunk);
    if (!ok) await drained(transport);
  }
}

/** Resolves once `transport` is not congested (at once if it is not); rejects if it closes first. */
export function drained(transport: Transport): Promise<boolean> {
  return firstValueFrom(transport.congested$.pipe(filter((congested) => !congested)));
}

/** A subscription to `incoming$` that gathers bytes and settles on completion or error. */
export class Reader {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  readonly done: Promise<Error | undefined>;
  #subscription: Subscription;
  #waiters: { size: number; resolve: () => void }[] = [];

  constructor(transport: Transport) {
    let settle!: (error: Error | undefined) => void;
    this.done = new Promise((resolve) => (settle = resolve));
    this.#subscription = transport.incoming$.subscribe({
      next: (chunk) => {
        this.chunks.push(chunk);
        this.length += chunk.byteLength;
        this.#waiters = this.#waiters.filter((w) => (this.length >= w.size ? (w.resolve(), false) : true));
      },
      error: (error: Error) => settle(error),
      complete: () => settle(undefined),
    });
  }

  /** Resolves once at least `size` bytes have arrived. */
  atLeast(size: number): Promise<void> {
    if (this.length >= size) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ size, resolve }));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  stop(): void {
    this.#subscription.unsubscribe();
  }
}

/** Resolves with the error `incoming$` fails with; rejects if it completes. */
export async function failureOf(reader: Reader): Promise<Error> {
  const error = await reader.done;
  if (!error) throw new Error('incoming$ completed where an error was expected');
  return error;
}

export function expectTransportError(error: unknown, code: TransportErrorCode): void {
  expect(error).toBeInstanceOf(TransportError);
  expect((error as TransportError).code).toBe(code);
}

const SMALL = { highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024 };

/** The behaviour every transport shares. */
export function describeTransport(kind: Kind): void {
  describe(`${kind.name} transport`, () => {
    const open = (options: TransportOptions = {}): Promise<Pair> => kind.open(options, defer);

    it('carries 8 MiB each way in order', { timeout: 15_000 }, async () => {
      const { a, b } = await open();
      const toB = randomBytes(8 * 1024 * 1024);
      const toA = randomBytes(8 * 1024 * 1024);
      const atA = new Reader(a);
      const atB = new Reader(b);
      await Promise.all([pump(a, toB), pump(b, toA)]);
      await Promise.all([atA.atLeast(toA.length), atB.atLeast(toB.length)]);
      expect(sha256(atB.bytes())).toBe(sha256(toB));
      expect(sha256(atA.bytes())).toBe(sha256(toA));
      a.close();
      expect(await atB.done).toBeUndefined();
      expect(await atA.done).toBeUndefined();
      expect(atB.length).toBe(toB.length);
    });

    it('delivers a writev as the concatenation of its parts', async () => {
      const { a, b } = await open();
      const small = [Buffer.from('hd'), Buffer.from('-body-'), Buffer.from('tail')];
      const large = [randomBytes(7), randomBytes(100 * 1024), randomBytes(3)];
      const expected = Buffer.concat([...small, ...large, Buffer.from('z')]);
      const reader = new Reader(b);
      expect(a.writev(small)).toBe(true);
      expect(a.writev(large)).toBe(true);
      expect(a.writev([new Uint8Array(0), Buffer.from('z'), new Uint8Array(0)])).toBe(true);
      expect(a.writev([])).toBe(true);
      await reader.atLeast(expected.length);
      expect(reader.bytes().equals(expected)).toBe(true);
    });

    it('returns false past highWaterMark while the reader is away, then drains', async () => {
      const { a, b } = await open(SMALL);
      const chunk = randomBytes(64 * 1024);
      let written = 0;
      let accepted = true;
      // Kernel buffers swallow a few MiB of a socket's writes before any queue forms.
      while (accepted && written < 64 * 1024 * 1024) {
        accepted = a.write(chunk);
        written += chunk.length;
      }
      expect(accepted).toBe(false);
      expect(a.bufferedAmount).toBeGreaterThan(SMALL.highWaterMark);
      expect(await firstValueFrom(a.congested$)).toBe(true);

      const drain = drained(a);
      const reader = new Reader(b);
      await drain;
      expect(a.bufferedAmount).toBeLessThanOrEqual(SMALL.lowWaterMark);
      expect(await firstValueFrom(a.congested$)).toBe(false);
      await reader.atLeast(written);
      expect(reader.length).toBe(written);
    });

    it('pauses while incoming$ is unsubscribed and loses nothing', async () => {
      const { a, b } = await open(SMALL);
      const data = randomBytes(2 * 1024 * 1024);
      // A closing side must keep reading until the remote's end arrives.
      const atA = new Reader(a);
      const sent = pump(a, data).then(() => a.close());
      const first = new Reader(b);
      await first.atLeast(256 * 1024);
      first.stop();
      await turns(5);
      const rest = new Reader(b);
      expect(await rest.done).toBeUndefined();
      await sent;
      expect(await atA.done).toBeUndefined();
      expect(sha256(Buffer.concat([first.bytes(), rest.bytes()]))).toBe(sha256(data));
    });

    it('completes incoming$ and emits closed$ without error on a clean remote close', async () => {
      const { a, b } = await open();
      const atA = new Reader(a);
      const atB = new Reader(b);
      a.write(Buffer.from('last words'));
      a.close();
      expect(a.isOpen).toBe(false);
      expect(await atB.done).toBeUndefined();
      expect(atB.bytes().toString()).toBe('last words');
      expect(await firstValueFrom(b.closed$)).toEqual({});
      expect(await firstValueFrom(a.closed$)).toEqual({});
      expect(await atA.done).toBeUndefined();
      expect(b.isOpen).toBe(false);
    });

    it('reports destroy(error) locally and fails the remote', async () => {
      const { a, b } = await open();
      const atA = new Reader(a);
      const atB = new Reader(b);
      const boom = new Error('boom');
      a.destroy(boom);
      expect(a.isOpen).toBe(false);
      expect(await firstValueFrom(a.closed$)).toEqual({ error: boom });
      expect(await atA.done).toBe(boom);
      expectTransportError(await failureOf(atB), kind.peerFailureCode);
      const closed = await firstValueFrom(b.closed$);
      expectTransportError(closed.error, kind.peerFailureCode);
    });

    it('fails incoming$ and closed$ when the remote carrier is terminated', async () => {
      const pair = await open();
      const atA = new Reader(pair.a);
      pair.terminateB();
      expectTransportError(await failureOf(atA), kind.peerFailureCode);
      expectTransportError((await firstValueFrom(pair.a.closed$)).error, kind.peerFailureCode);
      expect(pair.a.isOpen).toBe(false);
    });

    it('ignores writes after close without throwing', async () => {
      const { a, b } = await open();
      const atA = new Reader(a);
      const reader = new Reader(b);
      a.write(Buffer.from('kept'));
      a.close();
      expect(a.write(Buffer.from('dropped'))).toBe(false);
      expect(a.writev([Buffer.from('dropped'), Buffer.from('too')])).toBe(false);
      a.close();
      expect(await reader.done).toBeUndefined();
      expect(reader.bytes().toString()).toBe('kept');
      expect(await atA.done).toBeUndefined();
      expect(await firstValueFrom(a.closed$)).toEqual({});
      a.destroy(new Error('late'));
      expect(a.write(Buffer.from('after destroy'))).toBe(false);
      expect(await firstValueFrom(a.closed$)).toEqual({});
    });

    it('rejects a second concurrent subscriber to incoming$', async () => {
      const { a } = await open();
      const first = new Reader(a);
      const second = new Reader(a);
      expectTransportError(await failureOf(second), 'E_ALREADY_SUBSCRIBED');
      first.stop();
      const third = new Reader(a);
      third.stop();
    });
  });
}
