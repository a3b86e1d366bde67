import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, MproxyError, ProtocolError, encodeFrame, type Frame, type FrameInit } from '../../src/index.js';
import { cutUp } from '../support/index.js';

const DECODER_CODES = new Set(['E_BAD_VERSION', 'E_BAD_HEADER', 'E_FRAME_TOO_LARGE', 'E_TRUNCATED']);
const MAX_HEADER = 255;

interface Outcome {
  frames: string[];
  code: string | null;
}

/**
 * Feeds `chunks` then `end()`, checking after every push that the decoder holds no more than
 * one frame's worth plus the chunk, and that anything thrown is a ProtocolError with a code.
 */
function run(chunks: readonly Uint8Array[], maxFrameSize: number): Outcome {
  const decoder = new FrameDecoder({ maxFrameSize });
  const frames: string[] = [];
  const keep = (list: readonly Frame[]) => {
    for (const f of list) frames.push(JSON.stringify({ ...f, data: Buffer.from(f.data).toString('hex') }));
  };
  try {
    for (const chunk of chunks) {
      keep(decoder.push(chunk));
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(maxFrameSize + 2 + MAX_HEADER + chunk.length);
    }
    decoder.end();
    expect(decoder.atFrameBoundary).toBe(true);
    return { frames, code: null };
  } catch (error) {
    if (!(error instanceof MproxyError)) throw error;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(DECODER_CODES.has(error.code)).toBe(true);
    // The decoder wraps unexpected exceptions so callers only ever see its codes; the fuzzer
    // must still see such a wrapped crash as the bug it is.
    expect(error.message).not.toMatch(/^undecodable input/);
    keep((error as ProtocolError).frames);
    expect(decoder.bufferedBytes).toBe(0);
    return { frames, code: error.code };
  }
}

/** Random streams, and streams that start like frames so that the fuzzing reaches past byte 0. */
const randomStream = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 600 }))
    .map(([len, rest]) => Uint8Array.of(0xfe, len, ...rest)),
  fc
    .tuple(
      fc.array(fc.constantFrom(...'IPv4,.0123456789:abc,,,end,control,connection'.split('')), { maxLength: 60 }),
      fc.uint8Array({ maxLength: 300 }),
    )
    .map(([chars, rest]) => {
      const header = Buffer.from(chars.join(''));
      return Uint8Array.of(0xfe, header.length, ...header, ...rest);
    }),
);

const validFrame: fc.Arbitrary<FrameInit> = fc.record({
  kind: fc.constantFrom('data', 'connection', 'end', 'error', 'pause', 'resume', 'control'),
  family: fc.constantFrom('IPv4', 'IPv6', ''),
  address: fc.oneof(fc.ipV4(), fc.constant('bücher')),
  port: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: null }),
  service: fc.constantFrom('https', 'tcp', ''),
  serviceport: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: null }),
  name: fc.constantFrom('', 'example.com', '例え.jp'),
  data: fc.uint8Array({ maxLength: 200 }),
});

type Mutation =
  | { op: 'flip'; at: number; mask: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  | { op: 'truncate'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const bytes = [...input];
  for (const m of mutations) {
    const at = m.at % (bytes.length + 1);
    if (m.op === 'insert') bytes.splice(at, 0, m.byte);
    else if (m.op === 'truncate') bytes.length = at;
    else if (at < bytes.length) {
      if (m.op === 'flip') bytes[at] = bytes[at]! ^ m.mask;
      else bytes.splice(at, 1);
    }
  }
  return Uint8Array.from(bytes);
}

const maxFrameSizeArb = fc.oneof(fc.constantFrom(0, 1, 64, 199, 1 << 24), fc.integer({ min: 0, max: 4096 }));

describe('FrameDecoder fuzz', () => {
  it('ends random byte streams in frames or a coded ProtocolError, whatever the cuts', () => {
    fc.assert(
      fc.property(randomStream, fc.array(fc.nat(), { maxLength: 10 }), maxFrameSizeArb, (stream, seeds, maxFrameSize) => {
        const whole = run([stream], maxFrameSize);
        // Cutting the input differently must change nothing: not the frames, not the error.
        expect(run(cutUp(stream, seeds), maxFrameSize)).toEqual(whole);
      }),
      { numRuns: 4000 },
    );
  });

  it('ends mutated valid streams in frames or a coded ProtocolError, whatever the cuts', () => {
    fc.assert(
      fc.property(
        fc.array(validFrame, { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        maxFrameSizeArb,
        (frames, mutations, seeds, maxFrameSize) => {
          const stream = mutate(Buffer.concat(frames.map((f) => encodeFrame(f))), mutations);
          const whole = run([stream], maxFrameSize);
          expect(run(cutUp(stream, seeds), maxFrameSize)).toEqual(whole);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('keeps no more than one frame plus one chunk buffered when fed byte by byte', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { minLength: 1, maxLength: 3 }), maxFrameSizeArb, (frames, maxFrameSize) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
        const bytes = [...stream].map((b) => Uint8Array.of(b));
        const outcome = run(bytes, maxFrameSize);
        const largest = Math.max(...frames.map((f) => f.data?.length ?? 0));
        expect(outcome.code).toBe(largest > maxFrameSize ? 'E_FRAME_TOO_LARGE' : null);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses frames announcing 2^53 bytes and more without buffering them', () => {
    for (const datalen of [String(2 ** 53), '9007199254740993', '1' + '0'.repeat(30), '9'.repeat(200)]) {
      const header = Buffer.from(`IPv4,1.2.3.4,5,${datalen},https,443,n`);
      const prefix = Buffer.concat([Buffer.from([0xfe, header.length]), header]);
      expect(run([prefix, new Uint8Array(1000)], Number.MAX_SAFE_INTEGER)).toEqual({ frames: [], code: 'E_FRAME_TOO_LARGE' });
    }
  });
});
