import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { COALESCE_LIMIT, FrameDecoder, encodeFrame, encodeFrames, type FrameInit } from '../../src/index.js';
import { A, hex, testScheduler, text } from './helpers.js';

const small: FrameInit = { kind: 'data', ...A, data: text('hi') };
const end: FrameInit = { kind: 'end', ...A };

describe('encodeFrames', () => {
  it('should emit one part per frame with a small body, byte-identical to encodeFrame', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-e-|', { a: small, e: end });
      expectObservable(source.pipe(encodeFrames(), map((parts) => (parts.length === 1 ? hex(parts[0] as Uint8Array) : 'parts')))).toBe('-x-y-|', {
        x: hex(encodeFrame(small)),
        y: hex(encodeFrame(end)),
      });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('should send a large body after its header without copying it', () => {
    const body = new Uint8Array(COALESCE_LIMIT + 1).fill(7);
    const chunks: Uint8Array[] = [];
    testScheduler().run(({ cold }) => {
      cold('-a-|', { a: { kind: 'data', ...A, data: body } as FrameInit })
        .pipe(encodeFrames())
        .subscribe((parts) => chunks.push(...parts));
    });
    expect(chunks).toHaveLength(2);
    expect(chunks[1]).toBe(body);
    const decoded = new FrameDecoder().push(Buffer.concat(chunks));
    expect(decoded[0]?.data.length).toBe(body.length);
  });

  it('should error with the codec error when a frame cannot be encoded', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-|', { a: small, b: { kind: 'data', ...A, name: 'a,b' } as FrameInit });
      expectObservable(source.pipe(encodeFrames(), map(() => 'x'))).toBe('-x-#', undefined, expect.objectContaining({ code: 'E_INVALID_FIELD' }));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('should unsubscribe from the source when unsubscribed early', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-a-a-|', { a: small });
      expectObservable(source.pipe(encodeFrames(), map(() => 'x')), '^--!').toBe('-x--');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });
});
