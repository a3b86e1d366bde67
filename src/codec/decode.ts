/**
 * The byte → frame state machine: version byte and header length → header → body.
 *
 * Each state waits until the bytes it needs are buffered, then takes them in one `consume(n)`,
 * which returns a view when they lie in one chunk and copies only when they straddle chunks.
 * Limits are checked as soon as a length is known, so an oversized frame costs nothing.
 */
import { asBuffer } from './bytes.js';
import { ProtocolError } from './errors.js';
import { VERSION_BYTE, type Frame } from './frame.js';
import { emptyHeader, parseHeader, type ParsedHeader } from './header.js';
import { allocFromSlab } from './slab.js';
import { resolveDecoderOptions, type DecoderOptions } from './options.js';

const enum State {
  Prefix,
  Header,
  Body,
}

const EMPTY = new Uint8Array(0);

/**
 * The decoding state machine, without an opinion on what a frame becomes: {@link FrameDecoder}
 * builds {@link Frame}s from it, the compat layer proxy-packer messages. Use `FrameDecoder`.
 */
export class FrameScanner<T> {
  readonly #maxFrameSize: number;
  readonly #splitData: boolean;
  readonly #build: (header: ParsedHeader, body: Uint8Array) => T;
  #chunks: Buffer[] = [];
  #offset = 0;
  #buffered = 0;
  #state = State.Prefix;
  #headerLength = 0;
  /** Body bytes of the current frame not yet handed on (see `splitData`). */
  #bodyLeft = 0;
  readonly #header: ParsedHeader = emptyHeader();
  #failure: ProtocolError | undefined;

  constructor(options: DecoderOptions | undefined, build: (header: ParsedHeader, body: Uint8Array) => T) {
    ({ maxFrameSize: this.#maxFrameSize, splitData: this.#splitData } = resolveDecoderOptions(options));
    this.#build = build;
  }

  /** Bytes received but not yet part of a completed frame (the parsed prefix and header count). */
  get bufferedBytes(): number {
    // #buffered drops as the prefix and header are parsed; add them back for the caller.
    const state = this.#state;
    return this.#buffered + (state === State.Prefix ? 0 : state === State.Header ? 2 : 2 + this.#headerLength);
  }

  /** True when the input so far ends exactly on a frame boundary. */
  get atFrameBoundary(): boolean {
    return this.#state === State.Prefix && this.#buffered === 0;
  }

  /**
   * Feeds bytes cut anywhere and returns the frames they complete, in order. Bodies that lie
   * whole in `chunk` are views of it: do not reuse a chunk's memory after pushing it.
   * @throws {ProtocolError} when the bytes are not M-PROXY v1; the decoder stays failed and
   *   throws the same error on every later call. `error.frames` holds the frames completed
   *   before the bad byte.
   */
  push(chunk: Uint8Array): T[] {
    if (this.#failure) throw this.#failure;
    const out: T[] = [];
    if (chunk.length === 0) return out;
    this.#chunks.push(asBuffer(chunk));
    this.#buffered += chunk.length;
    try {
      this.#run(out);
    } catch (error) {
      this.#fail(error as ProtocolError, out);
    }
    return out;
  }

  /**
   * Declares the end of input.
   * @throws {ProtocolError} `E_TRUNCATED` if the input stopped inside a frame.
   */
  end(): void {
    if (this.#failure) throw this.#failure;
    if (!this.atFrameBoundary) {
      // With splitData the pieces of the body handed on were received too.
      const handedOn = this.#state === State.Body ? this.#header.bodyLength - this.#bodyLeft : 0;
      const received = this.bufferedBytes + handedOn;
      this.#fail(new ProtocolError('E_TRUNCATED', `input ended inside a frame (${received} bytes of it received)`), []);
    }
  }

  #run(out: T[]): void {
    for (;;) {
      if (this.#state === State.Prefix) {
        if (this.#buffered < 2) {
          // A wrong first byte is reported now, not later as a truncated frame.
          if (this.#buffered === 1) checkVersion((this.#chunks[0] as Buffer)[this.#offset] as number);
          return;
        }
        checkVersion(this.#byte());
        const headerLength = this.#byte();
        // The shortest header, `,,,0`, has 4 bytes; an empty one would also leave no chunk to read.
        if (headerLength < 4) {
          throw new ProtocolError('E_BAD_HEADER', `M-PROXY header length ${headerLength} is shorter than ",,,0"`);
        }
        this.#headerLength = headerLength;
        this.#state = State.Header;
      }
      if (this.#state === State.Header) {
        const n = this.#headerLength;
        if (this.#buffered < n) return;
        this.#readHeader(n);
        this.#state = State.Body;
        this.#bodyLeft = this.#header.bodyLength;
      }
      const header = this.#header;
      // A datagram's frame is its boundary: `udp` data frames stay whole.
      if (this.#splitData && header.kind === 'data' && header.wireService !== 'udp' && this.#bodyLeft > 0) {
        if (this.#buffered === 0) return;
        // What the first chunk holds of the body, as a view: no copy, whatever the cut.
        const first = this.#chunks[0] as Buffer;
        const start = this.#offset;
        const take = Math.min(this.#bodyLeft, first.length - start);
        const piece = first.subarray(start, start + take);
        this.#advance(first, take);
        this.#bodyLeft -= take;
        if (this.#bodyLeft === 0) this.#state = State.Prefix;
        out.push(this.#build(header, piece));
        continue;
      }
      if (this.#buffered < header.bodyLength) return;
      const body = header.bodyLength === 0 ? EMPTY : this.#consume(header.bodyLength);
      this.#state = State.Prefix;
      out.push(this.#build(header, body));
    }
  }

  // The first chunk is read through #offset rather than re-sliced: a Buffer view costs an
  // allocation, and a frame should cost at most one (its body).
  #advance(first: Buffer, n: number): void {
    this.#buffered -= n;
    this.#offset += n;
    if (this.#offset === first.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  #byte(): number {
    const first = this.#chunks[0] as Buffer;
    const value = first[this.#offset] as number;
    this.#advance(first, 1);
    return value;
  }

  /** Parses the next `n` bytes into this.#header. */
  #readHeader(n: number): void {
    const first = this.#chunks[0] as Buffer;
    const start = this.#offset;
    if (first.length - start >= n) {
      parseHeader(first, start, start + n, this.#maxFrameSize, this.#header);
      this.#advance(first, n);
      return;
    }
    parseHeader(this.#consume(n), 0, n, this.#maxFrameSize, this.#header);
  }

  #consume(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    const start = this.#offset;
    if (first.length - start >= n) {
      const view = first.subarray(start, start + n);
      this.#advance(first, n);
      return view;
    }
    // Straddles chunks: the one copy this frame costs.
    const joined = allocFromSlab(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Buffer;
      const from = this.#offset;
      const take = Math.min(chunk.length - from, n - filled);
      // Buffer#copy takes the range itself: no view to allocate, and a faster copy than set().
      chunk.copy(joined, filled, from, from + take);
      filled += take;
      this.#advance(chunk, take);
    }
    return joined;
  }

  #fail(error: unknown, completed: T[]): never {
    const failure =
      error instanceof ProtocolError
        ? error
        : new ProtocolError('E_BAD_HEADER', `undecodable input: ${String(error)}`, { cause: error });
    failure.frames = completed as unknown as Frame[];
    this.#failure = failure;
    this.#state = State.Prefix;
    this.#chunks = [];
    this.#offset = 0;
    this.#buffered = 0;
    throw failure;
  }
}

/**
 * Decodes an M-PROXY v1 byte stream into {@link Frame}s.
 *
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
 * socket.on('data', (chunk) => { for (const frame of decoder.push(chunk)) handle(frame); });
 * socket.on('end', () => decoder.end());
 * ```
 */
export class FrameDecoder extends FrameScanner<Frame> {
  constructor(options?: DecoderOptions) {
    super(options, toFrame);
  }
}

function checkVersion(version: number): void {
  if (version !== VERSION_BYTE) {
    const got = version.toString(16).padStart(2, '0');
    throw new ProtocolError('E_BAD_VERSION', `expected version byte 0xfe, got 0x${got}`);
  }
}

function toFrame(h: ParsedHeader, data: Uint8Array): Frame {
  const kind = h.kind;
  return {
    kind,
    id: h.id,
    family: h.family,
    address: h.address,
    port: h.port,
    service: kind === 'data' ? h.wireService : kind === 'connection' ? h.originalService : '',
    serviceport: h.serviceport,
    name: h.name,
    data,
  };
}
