/**
 * A slow consumer: a visitor that never reads while the local service tries to write 500 MiB to
 * it. The service writes with its own backpressure (write until `false`, wait for `drain`), so
 * it stalls as soon as the tunnel pauses it: the point is that no layer (relay, tunnel,
 * device) buffers what the visitor does not take. Meanwhile five other visitors on the same
 * tunnel download 8 MiB each at their usual pace. Then the slow visitor reads, and the 500 MiB
 * arrive whole (sha256 of what the service wrote = sha256 of what the visitor read).
 *
 * Relay, device, service and visitors share this process: its memory is theirs.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../../src/index.js';
import {
  MiB,
  MemoryPeak,
  SECRET,
  Tape,
  collectGarbage,
  defer,
  freePort,
  memory,
  report,
  serve,
  startDevice,
  startRelay,
  until,
  within,
} from './helpers.js';


const SLOW_BYTES = 500 * MiB;
const FAST_VISITORS = 5;
const FAST_BYTES = 8 * MiB;
/** Growth of the process over its baseline allowed while the slow visitor does not read (MiB). */
const RSS_BOUND = 150;
/** Array buffers still held, after a full GC, while the slow stream is stalled (MiB). */
const HELD_BOUND = 16;
/** What the service may get written while the visitor reads nothing: buffers, never 500 MiB. */
const STALLED_BOUND = 96 * MiB;

/** One connection of the source service: what it was asked, what it wrote, and its state. */
interface Stream {
  readonly size: number;
  written: number;
  waiting: boolean;
  readonly hash: ReturnType<typeof createHash>;
  done: boolean;
}

/**
 * A service that reads a request line `<bytes> <tape offset>\n` and writes that many bytes of
 * the tape, 64 KiB at a time, with backpressure; then ends. `onEvent` is called on each write
 * burst and each drain (the memory sampler rides on it).
 */
async function sourceService(tape: Tape, onEvent: () => void): Promise<{ port: number; streams: Stream[] }> {
  const streams: Stream[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let line = '';
    const onData = (chunk: Buffer): void => {
      line += chunk.toString('latin1');
      const newline = line.indexOf('\n');
      if (newline < 0) return;
      socket.off('data', onData);
      const [size, offset] = line.slice(0, newline).split(' ').map(Number) as [number, number];
      const stream: Stream = { size, written: 0, waiting: false, hash: createHash('sha256'), done: false };
      streams.push(stream);
      const pump = (): void => {
        stream.waiting = false;
        onEvent();
        while (stream.written < size && !socket.destroyed) {
          const chunk = tape.slice(offset + stream.written, Math.min(64 * 1024, size - stream.written));
          stream.hash.update(chunk);
          stream.written += chunk.length;
          if (!socket.write(chunk)) {
            stream.waiting = true;
            socket.once('drain', pump);
            return;
          }
        }
        stream.done = true;
        socket.end();
      };
      pump();
    };
    socket.on('data', onData);
  });
  const { port } = await serve(server);
  return { port, streams };
}

/** A visitor that asks for `size` bytes and hashes what arrives; `onData` per chunk. */
function download(port: number, size: number, offset: number, onData: () => void = () => undefined) {
  const socket = net.connect({ host: '127.0.0.1', port });
  defer(() => void socket.destroy());
  const hash = createHash('sha256');
  let received = 0;
  const startedAt = performance.now();
  socket.on('connect', () => socket.write(`${size} ${offset}\n`));
  const done = new Promise<{ hash: string; received: number; seconds: number }>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('end', () => resolve({ hash: hash.digest('hex'), received, seconds: (performance.now() - startedAt) / 1000 }));
  });
  return {
    socket,
    done,
    /** Starts consuming (the socket has no 'data' listener until then: it reads nothing). */
    read(): void {
      socket.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
        onData();
      });
    },
  };
}

describe('slow consumer', () => {
  it('a visitor that does not read stalls only its own stream; 5 others keep their pace; then 500 MiB arrive intact', { timeout: 120_000 }, async () => {
    const tape = new Tape(4 * MiB);
    let meter: MemoryPeak | undefined;
    // On the service's writes and drains and the visitors' reads, at most every 5 ms (a sample
    // costs a syscall: the fast visitors must not pay for it).
    let sampledAt = 0;
    const sample = (): void => {
      const now = performance.now();
      if (!meter || now - sampledAt < 5) return;
      sampledAt = now;
      meter.sample();
    };
    const source = await sourceService(tape, sample);
    const port = await freePort();
    const relay = await startRelay({ tcpPorts: String(port) });
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${source.port}`] });
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);

    /** Five visitors downloading 8 MiB each at once; resolves with their aggregate MiB/s. */
    const fastRound = async (): Promise<{ mibPerSecond: number; slowest: number }> => {
      const started = performance.now();
      const visitors = Array.from({ length: FAST_VISITORS }, (_, i) => {
        const visitor = download(port, FAST_BYTES, i * 12_345, sample);
        visitor.read();
        return visitor;
      });
      const results = await within(Promise.all(visitors.map((v) => v.done)), 30_000, 'the fast visitors to finish');
      const seconds = (performance.now() - started) / 1000;
      for (const [i, result] of results.entries()) {
        expect(result.received).toBe(FAST_BYTES);
        expect(result.hash).toBe(createHash('sha256').update(tape.slice(i * 12_345, FAST_BYTES)).digest('hex'));
      }
      return { mibPerSecond: (FAST_VISITORS * FAST_BYTES) / MiB / seconds, slowest: Math.max(...results.map((r) => r.seconds)) };
    };

    // Their pace alone (twice: the first round warms up).
    await fastRound();
    const alone = await fastRound();

    // The slow visitor asks for 500 MiB and reads nothing.
    collectGarbage();
    meter = new MemoryPeak();
    const sampler = setInterval(sample, 20);
    defer(() => clearInterval(sampler));
    const slow = download(port, SLOW_BYTES, 777);
    await until(() => source.streams.length === FAST_VISITORS * 2 + 1, 'the service to take the slow request');
    const slowStream = source.streams.at(-1) as Stream;
    await until(() => slowStream.waiting, 'the service to be paused for the slow visitor');

    // Five others, meanwhile, at their usual pace.
    const beside = await fastRound();

    // The slow stream is stalled for good, not slowed: hold, watching, for a moment.
    await until(() => slowStream.waiting, 'the slow stream to be waiting for drain');
    const stalledAt = slowStream.written;
    const holdUntil = Date.now() + 1_000;
    await until(() => Date.now() >= holdUntil, 'the hold');
    const heldAt = slowStream.written;
    clearInterval(sampler);
    const stalled = meter.growth;
    // What is still held once the garbage is gone: the stalled stream's buffers, nothing more.
    collectGarbage();
    const held = memory().arrayBuffers - meter.base.arrayBuffers;

    expect(slowStream.done).toBe(false);
    expect(heldAt).toBeLessThan(STALLED_BOUND);
    expect(heldAt - stalledAt).toBeLessThan(8 * MiB);
    expect(stalled.rss).toBeLessThan(RSS_BOUND);
    // What the tunnel holds is the array buffers left after a full GC. Their peak before one
    // (reported below) counts garbage, and says when V8 collects: Node 24 collects later than 20
    // and the same run peaked at 66–89 MiB there while 2 MiB were held after a GC.
    expect(held).toBeLessThan(HELD_BOUND);
    // Their pace beside a stalled stream: not a fraction of it alone (generous: a shared machine).
    expect(beside.mibPerSecond).toBeGreaterThan(alone.mibPerSecond / 4);
    expect(device.tunnel?.clients.size).toBe(1);
    expect(relay.clientCount).toBe(1);

    // Now it reads: all 500 MiB arrive, and they are what the service wrote.
    const readingFrom = performance.now();
    slow.read();
    const result = await within(slow.done, 90_000, 'the slow visitor to get its 500 MiB');
    const readSeconds = (performance.now() - readingFrom) / 1000;
    expect(slowStream.done).toBe(true);
    expect(result.received).toBe(SLOW_BYTES);
    expect(result.hash).toBe(slowStream.hash.digest('hex'));
    const whole = meter.growth;

    report('slow-consumer', {
      fastAloneMiBps: Math.round(alone.mibPerSecond),
      fastBesideStalledMiBps: Math.round(beside.mibPerSecond),
      slowestFastVisitorSeconds: { alone: alone.slowest.toFixed(2), beside: beside.slowest.toFixed(2) },
      serviceWrittenWhileStalledMiB: (heldAt / MiB).toFixed(1),
      growthWhileStalledMiB: { rss: stalled.rss.toFixed(1), arrayBuffers: stalled.arrayBuffers.toFixed(1), heapUsed: stalled.heapUsed.toFixed(1) },
      heldAfterGcWhileStalledMiB: held.toFixed(1),
      memorySamples: meter.samples,
      slowReadSeconds: readSeconds.toFixed(2),
      slowReadMiBps: Math.round(SLOW_BYTES / MiB / readSeconds),
      peakGrowthWholeRunMiB: { rss: whole.rss.toFixed(1), arrayBuffers: whole.arrayBuffers.toFixed(1) },
    });
  });
});
