/**
 * The backpressure operators, each with marbles and subscription marbles: sources that take a
 * demand (`fromReadable`, `fromClient`), sinks that emit one (`toWritable`, `toClient`), and
 * `pull`, which feeds the one into the other. Node streams are played by small synchronous
 * stand-ins here, so that time is the TestScheduler's; real sockets are in connect-socket.test.
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { Subject, map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { fromClient } from '../../src/rx/from-client.js';
import { fromReadable } from '../../src/rx/from-readable.js';
import { pull } from '../../src/rx/pull.js';
import { toClient } from '../../src/rx/to-client.js';
import { toWritable } from '../../src/rx/to-writable.js';
import { createTunnel } from '../../src/rx/tunnel.js';
import { A, internal, scriptedTransport, testScheduler } from './helpers.js';

const flags = { t: true, f: false };
const asText = map((chunk: Uint8Array) => Buffer.from(chunk).toString());

/** A readable in paused mode: what it is given waits in it until `read()` takes it. */
class ScriptedReadable extends EventEmitter {
  readonly held: Buffer[] = [];
  give(text: string): void {
    this.held.push(Buffer.from(text));
    this.emit('readable');
  }
  read(): Buffer | null {
    return this.held.shift() ?? null;
  }
}

/** A writable that holds what is written until `flush()`, which calls the writes' callbacks. */
class ScriptedWritable extends EventEmitter {
  readonly written: string[] = [];
  #pending: Array<() => void> = [];
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  write(chunk: Uint8Array, callback: () => void): boolean {
    this.written.push(Buffer.from(chunk).toString());
    this.writableLength += chunk.length;
    this.#pending.push(callback);
    return true;
  }
  flush(): void {
    this.writableLength = 0;
    for (const callback of this.#pending.splice(0)) callback();
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

describe('fromReadable', () => {
  it('should read only while ready$ is true', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const stream = new ScriptedReadable();
      const ready = hot('t--f---t-', flags);
      hot('-a-b-c----').subscribe((text) => stream.give(text));
      expectObservable(fromReadable(stream as unknown as Readable, ready).pipe(asText), '^--------!').toBe('-a-----(bc)-');
      expectSubscriptions(ready.subscriptions).toBe('^--------!');
    });
  });

  it('should complete at the end and error with the stream error', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const stream = new ScriptedReadable();
      const other = new ScriptedReadable();
      const ready = hot('t', flags);
      hot('-a-e').subscribe((event) => (event === 'e' ? stream.emit('end') : stream.give(event)));
      hot('--x').subscribe(() => other.emit('error', new Error('reset')));
      expectObservable(fromReadable(stream as unknown as Readable, ready).pipe(asText)).toBe('-a-|');
      expectObservable(fromReadable(other as unknown as Readable, ready)).toBe('--#', undefined, new Error('reset'));
    });
  });

  it('should leave what the stream holds unread when unsubscribed', () => {
    const stream = new ScriptedReadable();
    const ready = new Subject<boolean>();
    const chunks: string[] = [];
    const subscription = fromReadable(stream as unknown as Readable, ready).pipe(asText).subscribe((text) => chunks.push(text));
    ready.next(true);
    stream.give('x');
    subscription.unsubscribe();
    stream.give('y');
    expect(chunks).toEqual(['x']);
    expect(stream.held.map(String)).toEqual(['y']);
    expect(stream.listenerCount('readable')).toBe(0);
    expect(ready.observed).toBe(false);
  });
});

describe('toWritable', () => {
  it('should write each chunk, emit false once the stream holds its window, and true when writes leave it', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const stream = new ScriptedWritable();
      const source = cold('-a-b-c---|', { a: Buffer.from('a'), b: Buffer.from('b'), c: Buffer.from('c') });
      hot('------d').subscribe(() => stream.flush());
      expectObservable(source.pipe(toWritable(stream as unknown as Writable, 2))).toBe('t--f--t--|', flags);
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('should end the stream on completion and abort it on error', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const ended = new ScriptedWritable();
      const failed = new ScriptedWritable();
      expectObservable(cold<Uint8Array>('-|').pipe(toWritable(ended as unknown as Writable))).toBe('t|', flags);
      expectObservable(cold<Uint8Array>('-#').pipe(toWritable(failed as unknown as Writable))).toBe('t#', flags);
      expectObservable(cold('--x').pipe(map(() => [ended.writableEnded, failed.destroyed]))).toBe('--x', { x: [true, true] });
    });
  });
});

describe('fromClient and toClient', () => {
  function tunnelOf(frames = new Subject<Uint8Array>()) {
    const scripted = scriptedTransport(frames);
    return { ...scripted, tunnel: createTunnel(scripted.transport, { highWaterMark: 4, lowWaterMark: 2 }) };
  }

  it("fromClient should deliver a client's bytes while ready$ is true and hold them otherwise", () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const { tunnel, written } = tunnelOf();
      const client = tunnel.open(A);
      const ready = hot('t-f----t--', flags);
      const chunks = { a: 'a', b: 'bbb', c: 'ccc', d: 'd' };
      hot('-a-bc-d----', chunks).subscribe((text) => internal(client).receive('data', Buffer.from(text)));
      hot('------------e').subscribe(() => internal(client).remoteEnded());
      expectObservable(fromClient(client, ready).pipe(asText)).toBe('-a-----(bcd)|', chunks);
      expectSubscriptions(ready.subscriptions).toBe('^-----------!');
      // Held past highWaterMark (4 bytes here), the remote is paused, and resumed once taken.
      expectObservable(hot('--------x').pipe(map(() => written.map((f) => f.kind).join()))).toBe('--------x', {
        x: 'connection,pause,resume',
      });
    });
  });

  it("toClient should write into the client, end it on completion and emit the client's credit", () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const { tunnel, written, congested } = tunnelOf();
      const client = tunnel.open(A);
      hot('--t---f', flags).subscribe(congested);
      const source = cold('---a----|', { a: Buffer.from('a') });
      expectObservable(source.pipe(toClient(client))).toBe('t--f--t-(f|)', flags);
      expectSubscriptions(source.subscriptions).toBe('^-------!');
      expectObservable(hot('---------x').pipe(map(() => written.map((f) => f.kind).join()))).toBe('---------x', {
        x: 'connection,data,end',
      });
    });
  });

  it('toClient should destroy the client with the error of its source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { tunnel, written } = tunnelOf();
      const client = tunnel.open(A);
      const failure = Object.assign(new Error('upstream failed'), { code: 'E_UPSTREAM' });
      expectObservable(cold<Uint8Array>('-#', undefined, failure).pipe(toClient(client))).toBe('t#', flags, failure);
      expectObservable(cold('--x').pipe(map(() => [client.closed, written.at(-1)?.kind]))).toBe('--x', { x: [true, 'error'] });
    });
  });
});

describe('pull', () => {
  it("should feed the sink's demand back to the source", () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const stream = new ScriptedWritable();
      const source = new ScriptedReadable();
      hot('-a-b-c-d---').subscribe((text) => source.give(text));
      hot('--------f--').subscribe(() => stream.flush());
      expectObservable(pull((ready$) => fromReadable(source as unknown as Readable, ready$), toWritable(stream as unknown as Writable, 2)), '^---------!').toBe('');
      // The stream's window is two bytes: the third waits in the source until writes leave.
      expectObservable(hot('-------x-y').pipe(map(() => stream.written.join('')))).toBe('-------x-y', { x: 'ab', y: 'abcd' });
    });
  });
});
