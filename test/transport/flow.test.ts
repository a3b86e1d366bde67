import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { DEFAULT_HIGH_WATER_MARK, DEFAULT_LOW_WATER_MARK, resolveTransportOptions } from '../../src/transport/options.js';
import { IncomingQueue } from '../../src/transport/incoming.js';
import { WriteFlow } from '../../src/transport/flow.js';
import { expectTransportError } from './harness.js';

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

describe('WriteFlow', () => {
  const record = (flow: WriteFlow): string[] => {
    const events: string[] = [];
    flow.congested$.subscribe((congested) => events.push(congested ? 'congested' : 'clear'));
    flow.drain$.subscribe({ next: () => events.push('drain'), complete: () => events.push('done') });
    return events;
  };

  it('accepts up to highWaterMark inclusive', () => {
    const flow = new WriteFlow({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(flow);
    expect(flow.written(10)).toBe(true);
    expect(flow.written(11)).toBe(false);
    expect(events).toEqual(['clear', 'congested']);
  });

  it('drains once at lowWaterMark, not merely below highWaterMark', () => {
    const flow = new WriteFlow({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(flow);
    flow.written(20);
    flow.written(30);
    flow.flushed(9);
    flow.flushed(5);
    expect(events).toEqual(['clear', 'congested']);
    flow.flushed(4);
    flow.flushed(0);
    expect(events).toEqual(['clear', 'congested', 'clear', 'drain']);
  });

  it('does not drain without a false return first', () => {
    const flow = new WriteFlow({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(flow);
    flow.written(8);
    flow.flushed(0);
    expect(events).toEqual(['clear']);
  });

  it('leaves no later subscriber on a stale clear when an earlier one congests the queue again', () => {
    const flow = new WriteFlow({ highWaterMark: 10, lowWaterMark: 4 });
    // The first subscriber writes as soon as it hears the queue is clear (a tunnel serving
    // its waiting clients), and fills it again before the others have heard.
    let armed = false;
    flow.congested$.subscribe((congested) => {
      if (armed && !congested) flow.written(50);
    });
    const events = record(flow);
    flow.written(20);
    armed = true;
    flow.flushed(0);
    expect(flow.congested).toBe(true);
    // No 'clear' after the 'congested' (it did not hold by the time the news came), no drain.
    expect(events).toEqual(['clear', 'congested']);
  });

  it('completes both streams on close and ignores later reports', () => {
    const flow = new WriteFlow({ highWaterMark: 10, lowWaterMark: 4 });
    const events = record(flow);
    flow.written(11);
    flow.close();
    flow.flushed(0);
    expect(flow.written(11)).toBe(false);
    expect(events).toEqual(['clear', 'congested', 'done']);
  });
});

describe('IncomingQueue', () => {
  const queue = (): { incoming: IncomingQueue; calls: string[] } => {
    const calls: string[] = [];
    const incoming = new IncomingQueue({ start: () => calls.push('start'), stop: () => calls.push('stop') });
    return { incoming, calls };
  };

  it('starts and stops reading with the subscription', () => {
    const { incoming, calls } = queue();
    const subscription = incoming.incoming$.subscribe();
    expect(incoming.reading).toBe(true);
    subscription.unsubscribe();
    expect(incoming.reading).toBe(false);
    expect(calls).toEqual(['start', 'stop']);
  });

  it('keeps what arrives between subscribers, then the end, in order', () => {
    const { incoming } = queue();
    incoming.push(Uint8Array.of(1));
    incoming.push(Uint8Array.of(2));
    incoming.end();
    incoming.push(Uint8Array.of(3));
    const seen: number[] = [];
    let completed = false;
    incoming.incoming$.subscribe({ next: (chunk) => seen.push(...chunk), complete: () => (completed = true) });
    expect(seen).toEqual([1, 2]);
    expect(completed).toBe(true);
  });

  it('stops handing out the backlog when the subscriber leaves from inside next', () => {
    const { incoming, calls } = queue();
    for (const byte of [1, 2, 3]) incoming.push(Uint8Array.of(byte));
    const seen: number[] = [];
    incoming.incoming$.pipe(take(1)).subscribe((chunk) => seen.push(...chunk));
    expect(seen).toEqual([1]);
    const rest: number[] = [];
    incoming.incoming$.subscribe((chunk) => rest.push(...chunk));
    expect(rest).toEqual([2, 3]);
    expect(calls).toEqual(['start']);
  });

  it('rejects a second subscriber with E_ALREADY_SUBSCRIBED', () => {
    const { incoming } = queue();
    incoming.incoming$.subscribe();
    let failure: unknown;
    incoming.incoming$.subscribe({ error: (error: unknown) => (failure = error) });
    expectTransportError(failure, 'E_ALREADY_SUBSCRIBED');
  });
});
