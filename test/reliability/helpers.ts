/**
 * Shared by the reliability suites (`test/reliability/*.test.ts`): servers on 127.0.0.1:0, a
 * relay and a device, deterministic data, and counters of what the process holds (bounded
 * waits, free ports and the remembering logger come from test/support, re-exported here).
 * Every helper that opens something registers its cleanup with {@link defer}; each test file
 * runs {@link runCleanup} after each test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import {
  createDevice,
  createRelay,
  type Device,
  type DeviceOptions,
  type Relay,
  type RelayOptions,
} from '../../src/index.js';

export {
  captureClientHello,
  countCode,
  freePort,
  httpGet,
  memoryLogger,
  prng,
  sha256,
  tryUpgrade,
  until,
  within,
  type LogEntry,
} from '../support/index.js';

export const SECRET = 'reliability-secret-of-32-bytes-or-more';
export const KiB = 1024;
export const MiB = 1024 * KiB;

// Cleanup

const cleanups: (() => Promise<void> | void)[] = [];

/** Runs `fn` after the current test (last registered, first run). */
export function defer(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Runs what {@link defer} registered; call it from `afterEach`. */
export async function runCleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

// Waiting, bounded

/** Runs `task(i)` for i in [0, count) with at most `concurrency` running at once. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

// Randomness: seeded, so that a failure can be replayed with RELIABILITY_SEED=<seed>

/** The seed of this run: `RELIABILITY_SEED`, or one drawn now. Failing tests print it. */
export const SEED = Number(process.env['RELIABILITY_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

/** An integer in [min, max]. */
export function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** Bytes drawn from `random` (not crypto: reproducible from the seed). */
export function pseudoBytes(random: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * A random tape read cyclically: a stream is "the tape from offset `start`", so a receiver can
 * check every byte it got against what the sender sent without either keeping a copy.
 */
export class Tape {
  readonly bytes: Buffer;
  constructor(size = 4 * MiB) {
    this.bytes = randomBytes(size);
  }

  /** `length` bytes of the tape from `offset` (wrapping). A view when it does not wrap. */
  slice(offset: number, length: number): Buffer {
    const size = this.bytes.length;
    const start = offset % size;
    if (start + length <= size) return this.bytes.subarray(start, start + length);
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const at = (start + filled) % size;
      const take = Math.min(size - at, length - filled);
      this.bytes.copy(out, filled, at, at + take);
      filled += take;
    }
    return out;
  }

  /** A checker of a stream that should be the tape from `start`. */
  checker(start: number): PrefixChecker {
    return new PrefixChecker(this, start);
  }
}

/** Checks, chunk by chunk, that a stream is a prefix of the tape from a start offset. */
export class PrefixChecker {
  readonly #tape: Tape;
  readonly #start: number;
  /** Bytes checked so far. */
  received = 0;
  /** Offset (from the start of the stream) of the first byte that did not match, if any. */
  mismatchAt: number | undefined;

  constructor(tape: Tape, start: number) {
    this.#tape = tape;
    this.#start = start;
  }

  /** Feeds a chunk; returns false once any byte so far has been wrong. */
  check(chunk: Buffer): boolean {
    if (this.mismatchAt === undefined) {
      const expected = this.#tape.slice(this.#start + this.received, chunk.length);
      if (!expected.equals(chunk)) {
        let i = 0;
        while (i < chunk.length && chunk[i] === expected[i]) i++;
        this.mismatchAt = this.received + i;
      }
    }
    this.received += chunk.length;
    return this.mismatchAt === undefined;
  }

  get ok(): boolean {
    return this.mismatchAt === undefined;
  }
}

// Servers

/** Listens on 127.0.0.1:`port`; at cleanup destroys every connection it took and closes. */
export async function serve(server: net.Server, port = 0): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  defer(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, sockets };
}

/** A TCP echo service (half-close aware); `received()` counts the bytes of all its connections. */
export async function echoServer(): Promise<{ port: number; sockets: Set<net.Socket>; received(): number }> {
  let received = 0;
  const served = await serve(
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.pipe(socket);
    }),
  );
  return { ...served, received: () => received };
}

export async function startRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => relay.close());
  return relay;
}

export async function startDevice(relay: Relay | string, options: Omit<DeviceOptions, 'relay'>): Promise<Device> {
  const device = createDevice({ relay: typeof relay === 'string' ? relay : relay.tunnelUrl, reconnect: false, ...options });
  defer(() => device.close());
  await device.online();
  return device;
}

// Visitors

/**
 * A visitor that writes `data`, ends, and reads everything back; resolves with the sha256 of
 * what came back once its socket has closed.
 */
export function echoVisit(port: number, data: Buffer): Promise<{ hash: string; length: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const hash = createHash('sha256');
    let length = 0;
    let ended = false;
    socket.on('connect', () => socket.end(data));
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    socket.on('end', () => (ended = true));
    socket.on('error', reject);
    socket.on('close', () => {
      if (ended) resolve({ hash: hash.digest('hex'), length });
      else reject(new Error(`echo visitor closed before the end (${length} of ${data.length} bytes back)`));
    });
  });
}

// What the process holds

/** `process.getActiveResourcesInfo()` counted by type (`TCPSocketWrap`, `Timeout`, …). */
export function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** The count of one resource type now. */
export function resourceCount(type: string): number {
  return resources()[type] ?? 0;
}

let gcFunction: (() => void) | undefined;
/** A full garbage collection (V8's `gc`, made reachable without `--expose-gc`). */
export function collectGarbage(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/** Memory now, in MiB. */
export function memory(): { rss: number; arrayBuffers: number; heapUsed: number } {
  const usage = process.memoryUsage();
  return { rss: usage.rss / MiB, arrayBuffers: usage.arrayBuffers / MiB, heapUsed: usage.heapUsed / MiB };
}

/** Tracks the peak of {@link memory} over the samples it is given. */
export class MemoryPeak {
  readonly base = memory();
  peak = { ...this.base };
  samples = 0;

  sample(): void {
    const now = memory();
    this.samples++;
    this.peak = {
      rss: Math.max(this.peak.rss, now.rss),
      arrayBuffers: Math.max(this.peak.arrayBuffers, now.arrayBuffers),
      heapUsed: Math.max(this.peak.heapUsed, now.heapUsed),
    };
  }

  /** Peak growth over the base, in MiB. */
  get growth(): { rss: number; arrayBuffers: number; heapUsed: number } {
    return {
      rss: this.peak.rss - this.base.rss,
      arrayBuffers: this.peak.arrayBuffers - this.base.arrayBuffers,
      heapUsed: this.peak.heapUsed - this.base.heapUsed,
    };
  }
}

// Logs

/** Prints a figure for the report (kept out of assertions). */
export function report(suite: string, figures: Record<string, unknown>): void {
  console.log(`[reliability:${suite}] ${JSON.stringify(figures)}`);
}
