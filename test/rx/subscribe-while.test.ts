import { Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { subscribeWhile } from '../../src/rx/subscribe-while.js';
import { testScheduler } from './helpers.js';

const flags = { t: true, f: false };

describe('subscribeWhile', () => {
  it('should hold the source subscribed only while ready$ says true', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<string>('-a-b-c-d-e-');
      const ready = hot<boolean>('t-f---t----', flags);
      expectObservable(source.pipe(subscribeWhile(ready))).toBe('-a-----d-e-');
      expectSubscriptions(source.subscriptions).toBe(['^-!', '------^']);
      expectSubscriptions(ready.subscriptions).toBe('^');
    });
  });

  it('should not subscribe before ready$ first says true, nor again on a repeated true', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<string>('-a-b-c-');
      const ready = hot<boolean>('f-tt---', flags);
      expectObservable(source.pipe(subscribeWhile(ready))).toBe('---b-c-');
      expectSubscriptions(source.subscriptions).toBe('--^');
    });
  });

  it('should complete and error with the source, and end its hold on ready$', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const ending = cold<string>('-a|');
      const failing = cold<string>('-a#');
      const ready = hot<boolean>('t-----', flags);
      expectObservable(ending.pipe(subscribeWhile(ready))).toBe('-a|');
      expectObservable(failing.pipe(subscribeWhile(ready))).toBe('-a#');
      expectSubscriptions(ending.subscriptions).toBe('^-!');
      expectSubscriptions(ready.subscriptions).toBe(['^-!', '^-!']);
    });
  });

  it('should error with ready$', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<string>('-a-b-');
      const ready = hot<boolean>('t-#', flags);
      expectObservable(source.pipe(subscribeWhile(ready))).toBe('-a#');
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it('should unsubscribe both on unsubscription', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot<string>('-a-b-c-');
      const ready = hot<boolean>('t------', flags);
      expectObservable(source.pipe(subscribeWhile(ready)), '^--!').toBe('-a-');
      expectSubscriptions(source.subscriptions).toBe('^--!');
      expectSubscriptions(ready.subscriptions).toBe('^--!');
    });
  });

  it('should pass on what the source emits while it is being subscribed, then let it go', () => {
    // A source that hands over a backlog on subscription, and a consumer that turns ready$ off
    // on the first value: the backlog is in memory already and is not dropped.
    const ready = new Subject<boolean>();
    const live = new Subject<string>();
    let subscriptions = 0;
    let active = 0;
    const source = new Observable<string>((subscriber) => {
      subscriptions++;
      active++;
      for (const value of ['a', 'b', 'c']) subscriber.next(value);
      const inner = live.subscribe(subscriber);
      return () => {
        active--;
        inner.unsubscribe();
      };
    });
    const seen: string[] = [];
    source.pipe(subscribeWhile(ready)).subscribe((value) => {
      seen.push(value);
      if (seen.length === 1) ready.next(false);
    });
    ready.next(true);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect([subscriptions, active]).toEqual([1, 0]);
    live.next('not subscribed');
    ready.next(true);
    live.next('d');
    expect(seen).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'd']);
    expect([subscriptions, active]).toEqual([2, 1]);
  });
});
