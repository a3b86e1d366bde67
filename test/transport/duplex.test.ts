import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough } from 'node:stream';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { fromDuplex } from '../../src/transport/stream.js';
import { describeTransport, expectTransportError, failureOf, pump, Reader, sha256 } from './harness.js';

/** Two duplexes wired crosswise through a pair of PassThroughs, like the two ends of a pipe. */
function crossedDuplexes(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}

describeTransport({
  name: 'duplex',
  // Destroying one end of the crossed pair is a premature close for the other.
  peerFailureCode: 'E_TRANSPORT_ERROR',
  async open(options, defer) {
    const [left, right] = crossedDuplexes();
    defer(() => left.destroy());
    defer(() => right.destroy());
    return { a: fromDuplex(left, options), b: fromDuplex(right, options), terminateB: () => right.destroy() };
  },
});

describe('fromDuplex', () => {

  it("round-trips through a child process's stdio", async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    defer(() => child.kill());
    const transport = fromDuplex(Duplex.from({ readable: child.stdout, writable: child.stdin }));
    const reader = new Reader(transport);
    const data = randomBytes(2 * 1024 * 1024);
    await pump(transport, data);
    transport.close();
    expect(await reader.done).toBeUndefined();
    expect(sha256(reader.bytes())).toBe(sha256(data));
    expect(await firstValueFrom(transport.closed$)).toEqual({});
  });

  it('fails with E_TRANSPORT_ERROR and the cause when the stream errors', async () => {
    const stream = new PassThrough();
    const transport = fromDuplex(stream);
    const reader = new Reader(transport);
    const cause = new Error('disk on fire');
    stream.destroy(cause);
    const error = await failureOf(reader);
    expectTransportError(error, 'E_TRANSPORT_ERROR');
    expect(error.cause).toBe(cause);
    expect(stream.destroyed).toBe(true);
  });

  it('fails with E_TRANSPORT_CLOSED when the stream closes before its end', async () => {
    const stream = new PassThrough();
    const transport = fromDuplex(stream);
    const reader = new Reader(transport);
    stream.destroy();
    expectTransportError(await failureOf(reader), 'E_TRANSPORT_CLOSED');
  });

  it('ends its own side when the remote ends, even on a half-open duplex', async () => {
    const [left, right] = crossedDuplexes();
    defer(() => left.destroy());
    defer(() => right.destroy());
    expect(right.allowHalfOpen).toBe(true);
    const transport = fromDuplex(right);
    const reader = new Reader(transport);
    const finished = new Promise((resolve) => right.once('finish', resolve));
    left.end('done');
    expect(await reader.done).toBeUndefined();
    await finished;
    expect(transport.isOpen).toBe(false);
    expect(reader.bytes().toString()).toBe('done');
  });
});
