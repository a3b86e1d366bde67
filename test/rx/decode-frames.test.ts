import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ProtocolError, decodeFrames } from '../../src/index.js';
import { A, B, bytes, seen, testScheduler, text } from './helpers.js';

const f1 = bytes({ kind: 'data', ...A, data: text('hello') });
const f2 = bytes({ kind: 'end', ...B });
const both = new Uint8Array([...f1, ...f2]);

describe('decodeFrames', () => {
  it('should emit one frame per complete frame, in order', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-|', { a: f1, b: f2 });
      const expected = '   -x-y-|';
      expectObservable(source.pipe(decodeFrames(), map(seen))).toBe(expected, {
        x: { kind: 'data', id: 'IPv4,10.0.0.1,1111', data: 'hello' },
        y: { kind: 'end', id: 'IPv6,::1,2222', data: '' },
      });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('should emit a frame split across chunks when its last byte arrives', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|', { a: both.subarray(0, 3), b: both.subarray(3, f1.length + 4), c: both.subarray(f1.length + 4) });
      expectObservable(source.pipe(decodeFrames(), map((f) => f.kind))).toBe('---x-y-|', { x: 'data', y: 'end' });
    });
  });

  it('should emit several frames from one chunk', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a---|', { a: both });
      expectObservable(source.pipe(decodeFrames(), map((f) => f.kind))).toBe('-(xy)|', { x: 'data', y: 'end' });
    });
  });

  it('should emit the frames before a protocol error, then the error', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const bad = new Uint8Array([...f1, 0x42, 0x00]);
      const source = cold('-a-b-|', { a: bad, b: f2 });
      expectObservable(source.pipe(decodeFrames(), map((f) => f.kind))).toBe(
        '-(x#)',
        { x: 'data' },
        expect.objectContaining({ code: 'E_BAD_VERSION' }),
      );
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  it('should error with E_TRUNCATED when the source completes inside a frame', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: f1.subarray(0, 5) });
      expectObservable(source.pipe(decodeFrames())).toBe('---#', undefined, expect.objectContaining({ code: 'E_TRUNCATED' }));
    });
  });

  it('should refuse a frame larger than maxFrameSize as soon as its header is read', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: f1.subarray(0, f1.length - 5) });
      expectObservable(source.pipe(decodeFrames({ maxFrameSize: 4 }))).toBe(
        '-#',
        undefined,
        expect.objectContaining({ code: 'E_FRAME_TOO_LARGE' }),
      );
    });
  });

  it('should forward the source error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-#', { a: f1 }, new Error('socket reset'));
      expectObservable(source.pipe(decodeFrames(), map((f) => f.kind))).toBe('-x-#', { x: 'data' }, new Error('socket reset'));
    });
  });

  it('should unsubscribe from the source when unsubscribed early', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-a-a-a-|', { a: f1 });
      expectObservable(source.pipe(decodeFrames(), map((f) => f.kind)), '^----!').toBe('-x-x-', { x: 'data' });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('should keep one decoder per subscription', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|', { a: f1.subarray(0, 4), b: f1.subarray(4) });
      const decoded = source.pipe(decodeFrames(), map((f) => f.kind));
      expectObservable(decoded).toBe('---x-|', { x: 'data' });
      expectObservable(decoded).toBe('---x-|', { x: 'data' });
    });
  });

  it('errors are ProtocolError instances', () => {
    let caught: unknown;
    testScheduler().run(({ cold }) => {
      cold('-a|', { a: new Uint8Array([1, 2, 3]) })
        .pipe(decodeFrames())
        .subscribe({ error: (e: unknown) => (caught = e) });
    });
    expect(caught).toBeInstanceOf(ProtocolError);
  });
});
