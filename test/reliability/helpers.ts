/**
 * Shared by the reliability suites (`test/reliability/*.test.ts`): deterministic data and
 * counters of what the process holds. Servers, the relay and the device, bounded waits, free
 * ports, the remembering logger and the clean-up come from test/support, re-exported here.
 */
import { randomBytes } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

export { SECRET, echoServer, echoVisit, serve, startDevice, startRelay } from '../support/servers.js';
export {
  captureClientHello,
  defer,
  runCleanup,
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

export const KiB = 1024;
export const MiB = 1024 * KiB;

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
/**
 * A full garbage collection (V8's `gc`, made reachable without `--expose-gc`), done twice: V8
 * frees the backing stores of dead ArrayBuffers on a background thread after a collection, and
 * `process.memoryUsage().arrayBuffers` read right after one still counts them in about one call
 * in three (measured on Node 20, 22 and 24). The next collection finishes that sweep first.
 */
export function collectGarbage(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
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
