/** What the line asks of a client. */
export interface Borrower {
  /** The client may write one read's worth now; `serial` names this lend. */
  lend(serial: number): void;
  /** The lend went unused for a turn: the client is idle, and keeps it without holding room. */
  park(): void;
  /** The serial of the lend the client holds unused, 0 if none. */
  readonly unusedLend: number;
}

/**
 * Lends credit to a tunnel's clients in turn, so that the tunnel never asks its producers for
 * more than it can send soon: a client reads (one socket read, up to `readSize`) only with a lend,
 * and lends are made, first come first served, while the bytes waiting in the merge plus
 * `readSize` for each lend not yet used stay within `budget`. A lend not used by the end of the
 * next turn of the event loop stops counting (its client is idle; it keeps the credit, and its
 * next write is its own).
 *
 * Without it every busy client of a congested tunnel would hold a read in the merge: 1000 visitors,
 * 64 MiB, each byte waiting long enough to outlive V8's young generation.
 *
 * @internal
 */
export class CreditLine<B extends Borrower> {
  readonly #budget: number;
  readonly #readSize: number;
  /** Clients waiting for a lend, from #head, and which still wait (not a Set as the queue: V8
   *  keeps a deleted entry's slot until it rebuilds the table, and each pass walks them all). */
  #line: B[] = [];
  #head = 0;
  readonly #waiting = new Set<B>();
  /** Lends made since the last check (who, and which lend), and how many of all are unused. */
  #fresh: B[] = [];
  #serials: number[] = [];
  #serial = 0;
  #unused = 0;
  /** Data bytes in the merge: written, not yet sent. */
  #held = 0;
  #checking = false;
  /** Set while #serve runs: a lend's consequences (a write, bytes leaving) may call it again. */
  #serving = false;
  #again = false;

  constructor(budget: number, readSize: number) {
    this.#budget = budget;
    this.#readSize = readSize;
  }

  ask(client: B): void {
    if (!this.#waiting.has(client)) this.#line.push(client);
    this.#waiting.add(client);
    this.#serve();
  }

  /** A client closed: out of the line, and its unused lend no longer counts. */
  leave(client: B): void {
    // Dropped from #line once those gone outnumber those waiting; not while #serve walks it.
    if (this.#waiting.delete(client) && !this.#serving && this.#line.length - this.#head > 2 * this.#waiting.size) this.#compact();
    if (client.unusedLend === 0) return;
    this.#unused--;
    this.#serve();
  }

  /** A client wrote `bytes` (with its lend, if `used`) or they left the merge (negative). */
  held(bytes: number, used: boolean): void {
    this.#held += bytes;
    if (used) this.#unused--;
    if (bytes < 0) this.#serve();
  }

  #serve(): void {
    if (this.#serving) {
      this.#again = true;
      return;
    }
    this.#serving = true;
    try {
      do {
        this.#again = false;
        for (let client; (client = this.#line[this.#head]) !== undefined; this.#head++) {
          if (!this.#waiting.has(client)) continue;
          if (this.#held + (this.#unused + 1) * this.#readSize > this.#budget) break;
          this.#waiting.delete(client);
          this.#unused++;
          this.#serial = (this.#serial % Number.MAX_SAFE_INTEGER) + 1;
          this.#fresh.push(client);
          this.#serials.push(this.#serial);
          client.lend(this.#serial);
        }
      } while (this.#again);
    } finally {
      this.#serving = false;
    }
    // Emptied in place when all were served (the common case: no allocation per read).
    if (this.#head === this.#line.length) this.#line.length = this.#head = 0;
    else if (this.#head > 64 && this.#head * 2 > this.#line.length) this.#compact();
    if (this.#fresh.length > 0 && !this.#checking) {
      this.#checking = true;
      // Two hops: the first lands in this turn's check phase, before the poll that delivers
      // what the lends made so far asked for; the second comes after that poll.
      setImmediate(() => {
        const clients = this.#fresh;
        const serials = this.#serials;
        this.#fresh = [];
        this.#serials = [];
        this.#checking = false;
        setImmediate(() => this.#park(clients, serials));
      });
    }
  }

  /** Drops those served or gone from #line (once they are most of it: each costs O(1) overall). */
  #compact(): void {
    this.#line = this.#line.slice(this.#head).filter((client) => this.#waiting.has(client));
    this.#head = 0;
  }

  #park(clients: B[], serials: number[]): void {
    for (let i = 0; i < clients.length; i++) {
      const client = clients[i] as B;
      if (client.unusedLend !== serials[i]) continue;
      this.#unused--;
      client.park();
    }
    this.#serve();
  }
}
