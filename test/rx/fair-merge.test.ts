import { BehaviorSubject, Subject, from, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { fairMerge, type Lane } from '../../src/rx/fair-merge.js';
import { testScheduler } from './helpers.js';

const unit = (): number => 1;
const lanesOf = <T>(...lanes: Lane<T>[]): Observable<Lane<T>> => from(lanes);

describe('fairMerge', () => {
  it('should interleave lanes one item per turn with a quantum of one', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('(ab|)');
      const b = cold<string>('(cd|)');
      const ready = hot<boolean>('f---t  ', { t: true, f: false });
      const lanes = lanesOf<string>({ items$: a }, { items$: b });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit, quantum: 1 }))).toBe('----(acbd|)');
      expectSubscriptions(a.subscriptions).toBe('(^!)');
      expectSubscriptions(b.subscriptions).toBe('(^!)');
      expectSubscriptions(ready.subscriptions).toBe('^---!');
    });
  });

  it('should let a lane send up to its quantum per turn', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      const a = cold<string>('(abe|)');
      const b = cold<string>('(cd|)');
      const ready = hot<boolean>('f--t', { t: true, f: false });
      const lanes = lanesOf<string>({ items$: a }, { items$: b });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit, quantum: 2 }))).toBe('---(abcde|)');
    });
  });

  it('should carry an unused deficit over until a large item fits', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      // `L` costs 3: with a quantum of 2 it goes in a's second turn, after b's first.
      const a = cold<string>('(Lx|)');
      const b = cold<string>('(cd|)');
      const ready = hot<boolean>('f-t', { t: true, f: false });
      const lanes = lanesOf<string>({ items$: a }, { items$: b });
      const size = (item: string): number => (item === 'L' ? 3 : 1);
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size, quantum: 2 }))).toBe('--(cdLx|)');
    });
  });

  it('should send items as they come while the sink is ready', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      const a = cold<string>('a--b-|');
      const b = cold<string>('-c--d|');
      const ready = hot<boolean>('t', { t: true });
      const lanes = lanesOf<string>({ items$: a }, { items$: b });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit }))).toBe('ac-bd|');
    });
  });

  it('should skip a paused lane and serve it once resumed', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('(ab|)');
      const b = cold<string>('(cd|)');
      const aPaused = hot<boolean>('t-----f', { t: true, f: false });
      const ready = hot<boolean>('f-t', { t: true, f: false });
      const lanes = lanesOf<string>({ items$: a, paused$: aPaused }, { items$: b });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit, quantum: 1 }))).toBe('--(cd)(ab|)');
      expectSubscriptions(aPaused.subscriptions).toBe('^-----!');
    });
  });

  it('should hold everything while the sink is not ready', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      const a = cold<string>('ab|');
      const ready = hot<boolean>('f---t', { t: true, f: false });
      expectObservable(lanesOf<string>({ items$: a }).pipe(fairMerge({ ready$: ready, size: unit }))).toBe('----(ab|)');
    });
  });

  it('should not complete while a completed lane still has items', () => {
    testScheduler().run(({ cold, hot, expectObservable }) => {
      const a = cold<string>('a|');
      const ready = hot<boolean>('f--t-', { t: true, f: false });
      const lanes = cold<Lane<string>>('(x|)', { x: { items$: a } });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit }))).toBe('---(a|)');
    });
  });

  it('should not complete while the source of lanes is open', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('a|');
      const ready = hot<boolean>('t', { t: true });
      const lanes = cold<Lane<string>>('x----|', { x: { items$: a } });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit }))).toBe('a----|');
      expectSubscriptions(lanes.subscriptions).toBe('^----!');
    });
  });

  it('should error when a lane errors, unsubscribing the other lanes', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('a--#');
      const b = cold<string>('-b----c');
      const ready = hot<boolean>('t', { t: true });
      const lanes = lanesOf<string>({ items$: a }, { items$: b });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit }))).toBe('ab-#');
      expectSubscriptions(b.subscriptions).toBe('^--!');
      expectSubscriptions(ready.subscriptions).toBe('^--!');
    });
  });

  it('should error when the source of lanes errors', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('a-----');
      const ready = hot<boolean>('t', { t: true });
      const lanes = cold<Lane<string>>('x-#', { x: { items$: a } });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit }))).toBe('a-#');
      expectSubscriptions(a.subscriptions).toBe('^-!');
    });
  });

  it('should unsubscribe from the source, every lane and ready$ when unsubscribed', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<string>('a-b-c-d');
      const b = cold<string>('-e-f-g-');
      const ready = hot<boolean>('t', { t: true });
      const lanes = cold<Lane<string>>('(xy)-', { x: { items$: a }, y: { items$: b } });
      expectObservable(lanes.pipe(fairMerge({ ready$: ready, size: unit })), '^--!').toBe('aeb');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('^--!');
      expectSubscriptions(ready.subscriptions).toBe('^--!');
      expectSubscriptions(lanes.subscriptions).toBe('^--!');
    });
  });

  it('should stop at once when the sink stops being ready mid-turn, and go on in that turn', () => {
    const ready = new BehaviorSubject(true);
    const a = new Subject<string>();
    const b = new Subject<string>();
    const out: string[] = [];
    lanesOf<string>({ items$: a }, { items$: b })
      .pipe(fairMerge({ ready$: ready, size: unit, quantum: 3 }))
      .subscribe((item) => {
        out.push(item);
        // A transport that congests on every item.
        ready.next(false);
      });
    ready.next(false);
    for (const item of ['a1', 'a2', 'a3']) a.next(item);
    for (const item of ['b1', 'b2']) b.next(item);
    const step = (): void => ready.next(true);
    step();
    expect(out).toEqual(['a1']);
    step();
    step();
    // a's turn held three: it keeps it across the stops, then b's turn.
    expect(out).toEqual(['a1', 'a2', 'a3']);
    step();
    step();
    expect(out).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
  });

  it('should keep the order of items a lane gets while it is being served', () => {
    const ready = new BehaviorSubject(true);
    const a = new Subject<number>();
    const out: number[] = [];
    lanesOf<number>({ items$: a })
      .pipe(fairMerge({ ready$: ready, size: unit }))
      .subscribe((item) => {
        out.push(item);
        // A producer told of room inside the sink writes its next item at once.
        if (item < 5) a.next(item + 1);
      });
    a.next(1);
    expect(out).toEqual([1, 2, 3, 4, 5]);
  });

  it('should refuse a quantum that is not positive', () => {
    expect(() => fairMerge({ ready$: of(true), size: unit, quantum: 0 })).toThrow(RangeError);
  });
});
