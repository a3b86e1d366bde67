/**
 * The credit line on its own, with plain borrowers: who is lent when, what counts against the
 * budget, and when an unused lend stops counting. A "turn" is one turn of the event loop; the
 * test waits for turns with setImmediate, which is what the line itself counts in.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { CreditLine, type Borrower } from '../../src/rx/credit-line.js';

class Reader implements Borrower {
  lends = 0;
  parked = 0;
  unusedLend = 0;
  constructor(
    readonly name: string,
    readonly log: string[],
  ) {}
  lend(serial: number): void {
    this.lends++;
    this.unusedLend = serial;
    this.log.push(this.name);
  }
  park(): void {
    this.parked++;
    this.unusedLend = 0;
  }
  /** Writes `bytes` with its lend, as a client does. */
  use(line: CreditLine<Reader>, bytes: number): void {
    const used = this.unusedLend !== 0;
    this.unusedLend = 0;
    line.held(bytes, used);
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(budget: number, count: number) {
  const line = new CreditLine<Reader>(budget, 10);
  const log: string[] = [];
  const readers = Array.from({ length: count }, (_, i) => new Reader(String.fromCharCode(97 + i), log));
  return { line, log, readers };
}

describe('CreditLine', () => {
  it('lends first come, first served, while the bytes held and the unused lends fit the budget', () => {
    const { line, log, readers } = setup(30, 5);
    for (const reader of readers) line.ask(reader);
    expect(log).toEqual(['a', 'b', 'c']);
    // a's read lands in the merge: the room it took is now its bytes, not its lend.
    readers[0]!.use(line, 10);
    expect(log).toEqual(['a', 'b', 'c']);
    // They leave: room for one more read, lent to the first still waiting.
    line.held(-10, false);
    expect(log).toEqual(['a', 'b', 'c', 'd']);
  });

  it('counts what is held, however it was written: a write without a lend takes room too', () => {
    const { line, log, readers } = setup(30, 2);
    line.held(25, false);
    line.ask(readers[0]!);
    expect(log).toEqual([]);
    line.held(-5, false);
    expect(log).toEqual(['a']);
    line.ask(readers[1]!);
    expect(log).toEqual(['a']);
  });

  it('parks a lend still unused after the next turn, and lends its room to the next in line', async () => {
    const { line, log, readers } = setup(20, 3);
    for (const reader of readers) line.ask(reader);
    expect(log).toEqual(['a', 'b']);
    readers[0]!.use(line, 10);
    await turn();
    // This turn's check phase: too early, a read asked for now arrives in the next poll.
    expect(readers[1]!.parked).toBe(0);
    await turn();
    expect(readers[1]!.parked).toBe(1);
    expect(readers[0]!.parked).toBe(0);
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('does not park a second lend for the first one: each lend gets its own turn', async () => {
    const { line, readers } = setup(10, 1);
    const [a] = readers as [Reader];
    line.ask(a);
    await turn();
    // The first lend used and a second one made, both before the check that was due for the first.
    a.use(line, 10);
    line.held(-10, false);
    line.ask(a);
    expect(a.lends).toBe(2);
    await turn();
    expect(a.parked).toBe(0);
    await turn();
    await turn();
    expect(a.parked).toBe(1);
  });

  it('forgets a client that leaves: out of the line, its unused lend no longer counting', () => {
    const { line, log, readers } = setup(10, 3);
    const [a, b, c] = readers as [Reader, Reader, Reader];
    line.ask(a);
    line.ask(b);
    line.ask(c);
    line.leave(b);
    expect(log).toEqual(['a']);
    // a's lend is given back as it leaves: the next in line is c, b being gone.
    line.leave(a);
    expect(log).toEqual(['a', 'c']);
  });

  it('keeps its order through thousands of clients leaving and asking again while it waits', () => {
    // Room for one lend at a time: the line is mostly waiting, as under 1000 busy visitors.
    const line = new CreditLine<Reader>(10, 10);
    const log: string[] = [];
    const readers = Array.from({ length: 3000 }, (_, i) => new Reader(String(i), log));
    for (const reader of readers) line.ask(reader);
    // Two in three leave while waiting (the first one, lent, stays); asking again changes nothing.
    readers.forEach((reader, i) => i % 3 !== 0 && line.leave(reader));
    readers.forEach((reader, i) => i % 3 === 0 && line.ask(reader));
    for (let i = 0; i < 999; i++) {
      const lent = readers[Number(log.at(-1))]!;
      lent.use(line, 10);
      line.held(-10, false);
    }
    expect(log).toEqual(readers.filter((_, i) => i % 3 === 0).map((reader) => reader.name));
  });

  it('serves everyone in line when others leave from inside each lend', () => {
    // One lend at a time; each lend closes up to ten clients far down the line (a lend's
    // consequences run synchronously, and may reach anyone), so that those gone soon outnumber
    // those waiting while the line is handing out a lend.
    const line = new CreditLine<Reader>(10, 10);
    const log: string[] = [];
    const readers = Array.from({ length: 3000 }, (_, i) => new Reader(String(i), log));
    const gone = new Set<Reader>();
    let asked = false;
    let seed = 7;
    const random = (n: number): number => (seed = (seed * 48271) % 2147483647) % n;
    for (const reader of readers) {
      reader.lend = function (serial) {
        Reader.prototype.lend.call(this, serial);
        for (let k = 0; k < 10; k++) {
          const other = readers[500 + random(2500)];
          if (asked && other && !gone.has(other) && !log.includes(other.name)) {
            gone.add(other);
            line.leave(other);
          }
        }
      };
    }
    for (const reader of readers) line.ask(reader);
    asked = true;
    for (let i = 0; i < readers.length; i++) {
      readers[Number(log.at(-1))]!.use(line, 10);
      line.held(-10, false);
    }
    expect(gone.size).toBeGreaterThan(1000);
    expect(log).toEqual(readers.filter((reader) => !gone.has(reader)).map((reader) => reader.name));
  });

  it('keeps no client that was served and left, whether the line was idle or busy', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const line = new CreditLine<Reader>(10, 10);
    // Idle: one is lent at once. Busy: a hundred wait behind one lend, and leave as they wait.
    // (In a function of its own: an async function's frame would keep its locals alive.)
    const gone = [1, 100].flatMap((count) => serveAndLeave(line, count));
    // Past the check of the lends (two turns), then two full collections.
    await turn();
    await turn();
    gc();
    gc();
    expect(gone.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });
});

function serveAndLeave(line: CreditLine<Reader>, count: number): WeakRef<Reader>[] {
  const log: string[] = [];
  const readers = Array.from({ length: count }, (_, i) => new Reader(String(i), log));
  for (const reader of readers) line.ask(reader);
  readers[0]!.use(line, 10);
  line.held(-10, false);
  for (const reader of readers) line.leave(reader);
  return readers.map((reader) => new WeakRef(reader));
}
