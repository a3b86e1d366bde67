import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { DEFAULT_HIGH_WATER_MARK, DEFAULT_LOW_WATER_MARK, resolveTransportOptions } from '../../src/transport/options.js';
import { TransportBase } from '../../src/transport/base.js';
import { expectTransportError } from './harness.js';

/** A transport whose queue the test sizes by hand, recording when the base starts and stops reading. */
class Probe extends TransportBase {
  queued = 0;
  readonly calls: string[] = [];

  get bufferedAmount(): number {
    return this.queued;
  }

  get reading(): boolean {
    return this.isReading;
  }

  /** The carrier's queue fell to `bytes`. */
  flush(bytes: number): void {
    this.queued = bytes;
    this.flushed();
  }

  push(byte: number): void {
    this.received(Uint8Array.of(byte));
  }

  end(): void {
    this.receivedEnd();
  }

  protected sendChunk(chunk: Uint8Array): void {
    this.queued += chunk.byteLength;
  }

  protected sendChunks(chunks: readonly Uint8Array[]): void {
    for (const chunk of chunks) this.queued += chunk.byteLength;
  }

  protected startReading(): void {
    this.calls.push('start');
  }

  protected stopReading(): void {
    this.calls.push('stop');
  }

  protected closeCarrier(): void {}

  protected destroyCarrier(): void {}
}

const bytes = (count: number): Uint8Array => new Uint8Array(count);

describe('resolveTransportOptions', () => {
  it('defaults to 1 MiB and 128 KiB', () => {
    expect(resolveTransportOptions()).toEqual({ highWaterMark: 1024 * 1024, lowWaterMark: 128 * 1024 });
    expect(DEFAULT_HIGH_WATER_MARK).toBe(1024 * 1024);
    expect(DEFAULT_LOW_WATER_MARK).toBe(128 * 1024);
  });

  it('caps the default lowWaterMark at a smaller highWaterMark', () => {
    expect(resolveTransportOptions({ highWaterMark: 1000 })).toEqual({ highWaterMark: 1000, lowWaterMark: 1000 });
  });

  it.each([
    { highWaterMark: -1 },
    { highWaterMark: 1.5 },
    { lowWaterMark: Number.NaN },
    { highWaterMark: 10, lowWaterMark: 11 },
    { lowWaterMark: 2 * 1024 * 1024 },
  ])('rejects %o with E_INVALID_OPTION', (options) => {
    expect(() => resolveTransportOptions(options)).toThrow(InvalidOptionError);
    try {
      resolveTransportOptions(options);
    } catch (error) {
      expect((error as InvalidOptionError).code).toBe('E_INVALID_OPTION');
    }
  });
});

describe('TransportBase, writing', () => {
  const record = (probe: Probe): string[] => {
    const events: string[] = [];
    probe.congested$.subscribe({ next: (congested) => events.push(congested ? 'congested' : 'clear'), complete: () => events.push('done') });
    return events;
  };

  it('accepts up to highWaterMark inclusive', () => {
    const probe = new Probe({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(probe);
    expect(probe.write(bytes(10))).toBe(true);
    expect(probe.write(bytes(1))).toBe(false);
    expect(events).toEqual(['clear', 'congested']);
  });

  it('drains once at lowWaterMark, not merely below highWaterMark', () => {
    const probe = new Probe({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(probe);
    probe.write(bytes(20));
    probe.writev([bytes(5), bytes(5)]);
    probe.flush(9);
    probe.flush(5);
    expect(events).toEqual(['clear', 'congested']);
    probe.flush(4);
    probe.flush(0);
    expect(events).toEqual(['clear', 'congested', 'clear']);
  });

  it('does not drain without a false return first', () => {
    const probe = new Probe({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(probe);
    probe.write(bytes(8));
    probe.flush(0);
    expect(events).toEqual(['clear']);
  });

  it('leaves no later subscriber on a stale clear when an earlier one congests the queue again', () => {
    const probe = new Probe({ highWaterMark: 10, lowWaterMark: 4 });
    // The first subscriber writes as soon as it hears the queue is clear (a tunnel serving
    // its waiting clients), and fills it again before the others have heard.
    let armed = false;
    probe.congested$.subscribe((congested) => {
      if (armed && !congested) probe.write(bytes(50));
    });
    const events = record(probe);
    probe.write(bytes(20));
    armed = true;
    probe.flush(0);
    let congestedNow: boolean | undefined;
    probe.congested$.pipe(take(1)).subscribe((congested) => (congestedNow = congested));
    expect(congestedNow).toBe(true);
    // No 'clear' after the 'congested': it did not hold by the time the news came.
    expect(events).toEqual(['clear', 'congested']);
  });

  it('completes congested$ on close and ignores later reports', () => {
    const probe = new Probe({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(probe);
    probe.write(bytes(11));
    probe.destroy();
    probe.flush(0);
    expect(probe.write(bytes(11))).toBe(false);
    expect(events).toEqual(['clear', 'congested', 'done']);
  });
});

describe('TransportBase, reading', () => {
  it('starts and stops reading with the subscription', () => {
    const probe = new Probe();
    const subscription = probe.incoming$.subscribe();
    expect(probe.reading).toBe(true);
    subscription.unsubscribe();
    expect(probe.reading).toBe(false);
    expect(probe.calls).toEqual(['start', 'stop']);
  });

  it('keeps what arrives between subscribers, then the end, in order', () => {
    const probe = new Probe();
    probe.push(1);
    probe.push(2);
    probe.end();
    probe.push(3);
    const seen: number[] = [];
    let completed = false;
    probe.incoming$.subscribe({ next: (chunk) => seen.push(...chunk), complete: () => (completed = true) });
    expect(seen).toEqual([1, 2]);
    expect(completed).toBe(true);
  });

  it('stops handing out the backlog when the subscriber leaves from inside next', () => {
    const probe = new Probe();
    for (const byte of [1, 2, 3]) probe.push(byte);
    const seen: number[] = [];
    probe.incoming$.pipe(take(1)).subscribe((chunk) => seen.push(...chunk));
    expect(seen).toEqual([1]);
    const rest: number[] = [];
    probe.incoming$.subscribe((chunk) => rest.push(...chunk));
    expect(rest).toEqual([2, 3]);
    expect(probe.calls).toEqual(['start']);
  });

  it('rejects a second subscriber with E_ALREADY_SUBSCRIBED', () => {
    const probe = new Probe();
    probe.incoming$.subscribe();
    let failure: unknown;
    probe.incoming$.subscribe({ error: (error: unknown) => (failure = error) });
    expectTransportError(failure, 'E_ALREADY_SUBSCRIBED');
  });
});
