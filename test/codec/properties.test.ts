import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  decodeErrorBody,
  encodeErrorBody,
  encodeFrame,
  type Frame,
  type FrameKind,
} from '../../src/index.js';
import { SIGNAL_KINDS } from '../../src/codec/frame.js';
import { cutUp } from '../support/index.js';

interface ReferenceMessage {
  family?: string;
  address?: string;
  port?: string;
  service?: string;
  serviceport?: string;
  name?: string;
  data?: Buffer;
  message?: unknown;
  code?: unknown;
}
type Handler = (msg: ReferenceMessage) => void;
interface ProxyPacker {
  packHeader(meta: Record<string, unknown>, data: Buffer | null, service?: string, andBody?: boolean): Buffer;
  create(handlers: Record<string, Handler>): { fns: { addChunk(chunk: Buffer): void } };
}
const packer = createRequire(import.meta.url)('proxy-packer') as ProxyPacker;

const KINDS: readonly FrameKind[] = ['data', 'connection', 'end', 'error', 'pause', 'resume', 'control'];

// Mostly ASCII, with characters that stress UTF-8 handling: 2-, 3- and 4-byte forms, a BOM,
// C1 controls (legal on the wire) and characters that look like separators.
const fieldChar = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...'abcxyzABC0129.:-_ */[]%'.split('')) },
  { weight: 2, arbitrary: fc.constantFrom('é', 'ü', '€', '例', '😀', '\ufeff', '\u0085', '\u00a0', '\u2028', '，') },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((c) => c !== ',' && !/^[\x00-\x1f\x7f]$/.test(c)),
  },
);
const text = (maxLength: number) => fc.string({ unit: fieldChar, maxLength });
const port = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 65535) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 65535 }) },
);
const body = fc.oneof(
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

/** A frame as the decoder gives it back: fields the wire does not carry are empty. */
function canonical(f: {
  kind: FrameKind;
  family: string;
  address: string;
  port: number | null;
  service: string;
  serviceport: number | null;
  name: string;
  data: Uint8Array;
}): Frame {
  if (f.kind === 'control') {
    return { kind: 'control', id: ',,', family: '', address: '', port: null, service: '', serviceport: null, name: '', data: f.data };
  }
  let service = f.kind === 'data' || f.kind === 'connection' ? f.service : '';
  if (f.kind === 'data' && SIGNAL_KINDS.has(service)) service = `x${service}`;
  return { ...f, service, id: `${f.family},${f.address},${f.port ?? ''}` };
}

function fitsHeader(f: Frame): boolean {
  try {
    encodeFrame(f);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'E_HEADER_TOO_LONG') return false;
    throw error;
  }
}

const frameArb = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    family: fc.oneof(fc.constantFrom('IPv4', 'IPv6', ''), text(8)),
    address: fc.oneof(fc.ipV4(), fc.ipV6(), text(40)),
    port,
    service: fc.oneof(fc.constantFrom('https', 'http', 'tcp', 'udp', 'ssh', '', ...SIGNAL_KINDS), text(16)),
    serviceport: port,
    name: fc.oneof(fc.domain(), text(60)),
    data: body,
  })
  .map(canonical)
  .filter(fitsHeader);

/** Sorted cut positions in [0, length]. */
const cutsArb = fc.array(fc.nat(), { maxLength: 8 });
function comparable(f: Frame): Record<string, unknown> {
  return { ...f, data: Buffer.from(f.data).toString('hex') };
}

describe('codec properties', () => {
  it('decode(encode(frames)) gives the frames back, however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), cutsArb, (frames, seeds) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
        const decoder = new FrameDecoder();
        const decoded: Frame[] = [];
        for (const chunk of cutUp(stream, seeds)) decoded.push(...decoder.push(chunk));
        decoder.end();
        expect(decoded.map(comparable)).toEqual(frames.map(comparable));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 2500 },
    );
  });

  it('with splitData, each data body comes out whole or in uncopied pieces, and every other frame (udp data too) as without it', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), cutsArb, (frames, seeds) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
        const decoder = new FrameDecoder({ splitData: true });
        const out: Frame[] = [];
        for (const chunk of cutUp(stream, seeds)) out.push(...decoder.push(chunk));
        decoder.end();
        let at = 0;
        for (const frame of frames) {
          if (frame.kind !== 'data' || frame.data.length === 0 || frame.service === 'udp') {
            expect(comparable(out[at++] as Frame)).toEqual(comparable(frame));
            continue;
          }
          const pieces: Uint8Array[] = [];
          let bytes = 0;
          while (bytes < frame.data.length) {
            const piece = out[at++] as Frame;
            expect({ ...comparable(piece), data: '' }).toEqual({ ...comparable(frame), data: '' });
            expect(piece.data.length).toBeGreaterThan(0);
            // A view of the input, never a copy.
            expect(piece.data.buffer).toBe(stream.buffer);
            pieces.push(piece.data);
            bytes += piece.data.length;
          }
          expect(Buffer.concat(pieces).equals(Buffer.from(frame.data))).toBe(true);
        }
        expect(at).toBe(out.length);
        expect(decoder.atFrameBoundary).toBe(true);
      }),
      { numRuns: 2500 },
    );
  });

  it('encodeFrame writes the bytes proxy-packer packHeader(meta, data, service, true) writes', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const reference = packer.packHeader(referenceMeta(f), Buffer.from(f.data), referenceService(f.kind), true);
        expect(Buffer.from(encodeFrame(f)).toString('hex')).toBe(reference.toString('hex'));
      }),
      { numRuns: 2500 },
    );
  });

  it('proxy-packer decodes our bytes into the same fields, however the bytes are cut', () => {
    // An error body the reference can take: it crashes on JSON that is not an object.
    const errorBody = fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc.record({ message: text(30), code: fc.constantFrom('ECONNREFUSED', 'E_NO_CONN', 'E_X') }).map(encodeErrorBody),
      fc.uint8Array({ maxLength: 40 }).map((b) => Uint8Array.of(0xff, ...b)),
    );
    const referenceSafe = fc.tuple(frameArb, errorBody).map(([f, e]) => (f.kind === 'error' ? { ...f, data: e } : f));
    fc.assert(
      fc.property(fc.array(referenceSafe, { minLength: 1, maxLength: 4 }), cutsArb, (frames, seeds) => {
        const events: Array<{ handler: string; msg: ReferenceMessage }> = [];
        const handlers: Record<string, Handler> = {};
        for (const handler of ['onmessage', 'onconnection', 'oncontrol', 'onerror', 'onend', 'onpause', 'onresume']) {
          handlers[handler] = (msg) => events.push({ handler, msg });
        }
        const machine = packer.create(handlers);
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
        for (const chunk of cutUp(stream, seeds)) if (chunk.length > 0) machine.fns.addChunk(Buffer.from(chunk));

        expect(events).toHaveLength(frames.length);
        frames.forEach((f, i) => {
          const { handler, msg } = events[i]!;
          expect(handler).toBe(f.kind === 'data' ? 'onmessage' : `on${f.kind}`);
          expect(msg.family).toBe(f.family);
          expect(msg.address).toBe(f.address);
          expect(msg.port).toBe(f.port === null ? '' : String(f.port));
          expect(msg.service).toBe(f.kind === 'data' || f.kind === 'connection' ? f.service : f.kind);
          // The control header has 5 fields: the reference leaves the missing ones undefined.
          expect(msg.serviceport).toBe(f.kind === 'control' ? undefined : f.serviceport === null ? '' : String(f.serviceport));
          expect(msg.name).toBe(f.kind === 'control' ? undefined : f.name);
          if (f.data.length === 0) expect(msg.data).toBeUndefined();
          else expect(msg.data?.toString('hex')).toBe(Buffer.from(f.data).toString('hex'));
          if (f.kind === 'error') {
            const ours = decodeErrorBody(f.data);
            expect(msg.code).toBe(ours.code);
            if (ours.code !== 'E_UNKNOWN_ERR') expect(msg.message).toBe(ours.message);
          }
        });
      }),
      { numRuns: 1500 },
    );
  });
});

/** The reference input for our frame: ports as strings, since the reference writes `0 || ''`. */
function referenceMeta(f: Frame): Record<string, unknown> {
  return {
    family: f.family,
    address: f.address,
    port: f.port === null ? '' : f.port,
    service: f.service,
    serviceport: f.serviceport === null ? '' : String(f.serviceport),
    name: f.name,
  };
}

function referenceService(kind: FrameKind): string | undefined {
  return kind === 'data' ? undefined : kind;
}
