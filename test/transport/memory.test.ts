import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memoryPair } from '../../src/transport/memory.js';
import { describeTransport, drained, expectTransportError, failureOf, Reader, turns } from './harness.js';

describeTransport({
  name: 'memory',
  peerFailureCode: 'E_TRANSPORT_CLOSED',
  async open(options) {
    const [a, b] = memoryPair(options);
    return { a, b, terminateB: () => b.destroy(new Error('terminated')) };
  },
});

describe('memoryPair', () => {
  it('delivers asynchronously, never inside write', async () => {
    const [a, b] = memoryPair();
    const reader = new Reader(b);
    a.write(Buffer.from('x'));
    expect(reader.length).toBe(0);
    expect(a.bufferedAmount).toBe(1);
    await reader.atLeast(1);
    expect(a.bufferedAmount).toBe(0);
    a.destroy();
  });

  it('keeps bytes for a reader that subscribes late, counting them as buffered', async () => {
    const [a, b] = memoryPair({ highWaterMark: 10, lowWaterMark: 4 });
    expect(a.write(Buffer.from('0123456789'))).toBe(true);
    expect(a.write(Buffer.from('a'))).toBe(false);
    await turns(3);
    expect(a.bufferedAmount).toBe(11);
    const drain = drained(a);
    const reader = new Reader(b);
    await drain;
    expect(a.bufferedAmount).toBe(0);
    expect(reader.bytes().toString()).toBe('0123456789a');
    a.destroy();
  });

  it('copies what it carries', async () => {
    const [a, b] = memoryPair();
    const chunk = Buffer.from('abc');
    const reader = new Reader(b);
    a.write(chunk);
    chunk.fill(0);
    await reader.atLeast(3);
    expect(reader.bytes().toString()).toBe('abc');
    a.destroy();
  });

  it('completes the late reader after the queued bytes of a closed peer', async () => {
    const [a, b] = memoryPair();
    const atA = new Reader(a);
    a.write(Buffer.from('queued'));
    a.close();
    await turns(3);
    expect(b.isOpen).toBe(true);
    const reader = new Reader(b);
    expect(await reader.done).toBeUndefined();
    expect(reader.bytes().toString()).toBe('queued');
    expect(await atA.done).toBeUndefined();
    expect(await firstValueFrom(b.closed$)).toEqual({});
  });

  it('fails a peer that is not reading when the other side is destroyed', async () => {
    const [a, b] = memoryPair();
    b.write(Buffer.from('lost'));
    a.destroy(new Error('gone'));
    expect(b.bufferedAmount).toBe(0);
    expectTransportError(await failureOf(new Reader(b)), 'E_TRANSPORT_CLOSED');
  });
});
