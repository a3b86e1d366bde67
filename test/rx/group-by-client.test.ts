import { endWith, map, mergeMap, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { RemoteError, encodeErrorBody, groupByClient, type Frame, type FrameInit } from '../../src/index.js';
import { A, B, ID_A, ID_B, testScheduler, text } from './helpers.js';

// Frames as the decoder gives them, without going through bytes: groupByClient sees Frames.
const make = (init: FrameInit & { family: string; address: string; port: number }): Frame => ({
  kind: init.kind,
  id: `${init.family},${init.address},${init.port}`,
  family: init.family,
  address: init.address,
  port: init.port,
  service: init.service ?? '',
  serviceport: init.serviceport ?? null,
  name: init.name ?? '',
  data: init.data ?? new Uint8Array(0),
});
const frames = {
  c: make({ kind: 'connection', ...A }),
  a: make({ kind: 'data', ...A, data: text('a1') }),
  e: make({ kind: 'end', ...A }),
  x: make({ kind: 'error', ...A, data: encodeErrorBody({ message: 'refused', code: 'ECONNREFUSED' }) }),
  p: make({ kind: 'pause', ...A }),
  b: make({ kind: 'data', ...B, data: text('b1') }),
  f: make({ kind: 'end', ...B }),
  k: make({ kind: 'control', family: '', address: '', port: 0, data: text('[1,"hello"]') }),
};

/** Each group flattened to `key:kind` strings, with group completion and errors kept apart. */
const flatten = (groups$: Observable<import('rxjs').GroupedObservable<string, Frame>>) =>
  groups$.pipe(mergeMap((group) => group.pipe(map((frame) => `${group.key}:${frame.kind}`))));

describe('groupByClient', () => {
  it('should emit one group per client id, with interleaved clients kept apart', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-c-a-b-a-b-|', frames);
      const keys = source.pipe(groupByClient(), map((group) => group.key));
      expectObservable(keys).toBe('-x---y-----|', { x: ID_A, y: ID_B });
      expectSubscriptions(source.subscriptions).toBe('^----------!');
    });
  });

  it('should route each frame into its client group', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-c-a-b-a-|', frames);
      expectObservable(flatten(source.pipe(groupByClient()))).toBe('-c-a-b-a-|', {
        c: `${ID_A}:connection`,
        a: `${ID_A}:data`,
        b: `${ID_B}:data`,
      });
    });
  });

  it('should complete the group when the client ends', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-c-a-e-b-|', frames);
      const lifecycle = source.pipe(
        groupByClient(),
        mergeMap((group) => group.pipe(map((frame) => `${group.key}:${frame.kind}`), endWith(`${group.key}:completed`))),
      );
      expectObservable(lifecycle).toBe('-c-a-d-b-(z|)', {
        c: `${ID_A}:connection`,
        a: `${ID_A}:data`,
        d: `${ID_A}:completed`,
        b: `${ID_B}:data`,
        z: `${ID_B}:completed`,
      });
    });
  });

  it('should error the group with the remote code when the client fails', () => {
    let failure: unknown;
    const kinds: string[] = [];
    testScheduler().run(({ hot }) => {
      hot('-c-a-x-|', frames)
        .pipe(groupByClient())
        .subscribe((group) => group.subscribe({ next: (f) => kinds.push(f.kind), error: (e: unknown) => (failure = e) }));
    });
    expect(kinds).toEqual(['connection', 'data']);
    expect(failure).toBeInstanceOf(RemoteError);
    expect(failure).toMatchObject({ code: 'ECONNREFUSED', message: 'refused', clientId: ID_A });
  });

  it('should open a new group for an id that ended and comes back', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-e-a-|', frames);
      expectObservable(source.pipe(groupByClient(), map((g) => g.key))).toBe('-x---x-|', { x: ID_A });
    });
  });

  it('should drop end, error, pause and resume frames of unknown clients, and control frames', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-e-x-p-f-k-|', frames);
      expectObservable(source.pipe(groupByClient())).toBe('-----------|');
    });
  });

  it('should pass pause and resume frames into an open group', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-p-|', frames);
      expectObservable(flatten(source.pipe(groupByClient()))).toBe('-a-p-|', { a: `${ID_A}:data`, p: `${ID_A}:pause` });
    });
  });

  it('should complete a released group and forget it', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a---a-|', frames);
      const release$ = hot('---r---', { r: ID_A });
      const keys = source.pipe(
        groupByClient({ release$ }),
        mergeMap((group, index) => group.pipe(map((f) => `${index}:${f.kind}`))),
      );
      expectObservable(keys).toBe('-x---y-|', { x: '0:data', y: '1:data' });
    });
  });

  it('should error every open group and the result when the source errors', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-#', frames, new Error('transport reset'));
      expectObservable(flatten(source.pipe(groupByClient()))).toBe(
        '-a-b-#',
        { a: `${ID_A}:data`, b: `${ID_B}:data` },
        new Error('transport reset'),
      );
    });
  });

  it('should unsubscribe from the source and release when unsubscribed early', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-a-b-|', frames);
      const release$ = hot('---------');
      expectObservable(flatten(source.pipe(groupByClient({ release$ }))), '^----!').toBe('-a-b--', {
        a: `${ID_A}:data`,
        b: `${ID_B}:data`,
      });
      expectSubscriptions(source.subscriptions).toBe('^----!');
      expectSubscriptions(release$.subscriptions).toBe('^----!');
    });
  });
});
