// Codec benchmark: mproxy's FrameDecoder / encodeFrame / encodeFrameParts against the reference
// implementation, proxy-packer@2.0.4, on identical inputs in the same process.
//
// decode  frames/s of decoding one pre-built stream of `data` frames, whole, with a fresh
//         decoder per call; both sides must report every frame (checked on every call).
// encode  frames/s of encoding the same frame object: encodeFrame vs packHeader(…, true)
//         (header + body in one buffer) and encodeFrameParts vs packHeader(meta, data)
//         (header only, body not copied).
import { createRequire } from 'node:module';
import { FrameDecoder, encodeFrame, encodeFrameParts } from '../dist/index.js';
import { comparePairs } from './lib/measure.mjs';

const require = createRequire(import.meta.url);
const packer = require('proxy-packer');

const TARGET = 1.5;
const KiB = 1024;

// Body size, how many frames one stream holds, and the size of the chunks it arrives in.
const DECODE_CASES = [
  { label: '100 B', body: 100, frames: 20_000, chunk: 64 * KiB },
  { label: '1 KiB', body: 1 * KiB, frames: 5_000, chunk: 64 * KiB },
  { label: '64 KiB', body: 64 * KiB, frames: 64, chunk: 16 * KiB },
];

// Body size and how many frames one timed call encodes (batched so that one sample lasts well
// above the timer's resolution).
const ENCODE_CASES = [
  { label: '100 B', body: 100, batch: 2_000 },
  { label: '1 KiB', body: 1 * KiB, batch: 2_000 },
  { label: '64 KiB', body: 64 * KiB, batch: 100 },
];

/** A data frame as a relay sends it: one of 16 clients of an https service. */
function frameFor(i, data) {
  return {
    kind: 'data',
    family: 'IPv4',
    address: '203.0.113.7',
    port: 50000 + (i % 16),
    service: 'https',
    serviceport: 443,
    name: 'www.example.com',
    data,
  };
}

function body(size, seed) {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}

function buildStream({ body: size, frames, chunk }) {
  const parts = [];
  for (let i = 0; i < frames; i++) parts.push(encodeFrame(frameFor(i, body(size, i))));
  const stream = Buffer.concat(parts);
  // Separate buffers, like socket reads, not views of one big buffer.
  const chunks = [];
  for (let at = 0; at < stream.length; at += chunk) chunks.push(Buffer.from(stream.subarray(at, at + chunk)));
  return { stream, chunks };
}

const noop = () => {};

function decodeWithMproxy(chunks) {
  const decoder = new FrameDecoder();
  let count = 0;
  for (let i = 0; i < chunks.length; i++) count += decoder.push(chunks[i]).length;
  decoder.end();
  return count;
}

function decodeWithPacker(chunks) {
  let count = 0;
  const machine = packer.create({
    onmessage: () => {
      count++;
    },
    onconnection: noop,
    oncontrol: noop,
    onerror: noop,
    onend: noop,
    onpause: noop,
    onresume: noop,
  });
  for (let i = 0; i < chunks.length; i++) machine.fns.addChunk(chunks[i]);
  return count;
}

/**
 * Both decoders, run once outside the timing: same frames, same bodies. Our frames are compared
 * as they come and not kept: holding all of them at once (20 000 frames) made V8 pretenure the
 * decoder's allocation sites (frames and body views then born in the old generation) in about
 * half of the runs, and every timed decode after that paid for it in full collections: x0.6 of
 * the reference instead of x2 (with --no-allocation-site-pretenuring, x2 every time).
 */
function checkDecoders(label, chunks, expected) {
  const theirs = [];
  const machine = packer.create({ onmessage: (msg) => theirs.push(msg), onconnection: noop });
  for (const c of chunks) machine.fns.addChunk(c);
  if (theirs.length !== expected) {
    throw new Error(`decode ${label}: expected ${expected} frames, proxy-packer gave ${theirs.length}`);
  }
  const decoder = new FrameDecoder();
  let i = 0;
  const compare = (a) => {
    const b = theirs[i++];
    if (
      !b ||
      a.kind !== 'data' ||
      a.service !== b.service ||
      a.address !== b.address ||
      String(a.port) !== b.port ||
      Buffer.compare(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength), b.data) !== 0
    ) {
      throw new Error(`decode ${label}: frame ${i - 1} differs between mproxy and proxy-packer`);
    }
  };
  for (const c of chunks) for (const frame of decoder.push(c)) compare(frame);
  decoder.end();
  if (i !== expected) throw new Error(`decode ${label}: expected ${expected} frames, mproxy gave ${i}`);
}

function checkEncoders(label, frame) {
  const a = Buffer.from(encodeFrame(frame));
  const b = packer.packHeader(frame, frame.data, undefined, true);
  const parts = encodeFrameParts(frame);
  const h = packer.packHeader(frame, frame.data);
  if (!a.equals(b) || !Buffer.from(parts.header).equals(h) || parts.body !== frame.data) {
    throw new Error(`encode ${label}: mproxy and proxy-packer bytes differ`);
  }
}

/** @param {import('./run.mjs').BenchContext} ctx */
export async function run(ctx) {
  const pairs = [];

  for (const c of DECODE_CASES) {
    const { chunks } = buildStream(c);
    checkDecoders(c.label, chunks, c.frames);
    const expect = (side, n) => {
      if (n !== c.frames) throw new Error(`decode ${c.label}: ${side} decoded ${n} of ${c.frames} frames`);
    };
    pairs.push({
      group: 'decode',
      case: `${c.label} body, ${c.chunk / KiB} KiB chunks`,
      unit: 'frames/s',
      target: TARGET,
      opsPerCall: c.frames,
      mproxy: () => expect('mproxy', decodeWithMproxy(chunks)),
      baseline: () => expect('proxy-packer', decodeWithPacker(chunks)),
    });
  }

  // The reference reads meta fields and ignores the rest, so both sides get the very same
  // frame object, built once: neither side pays for building or spreading it.
  let sink = 0;
  for (const c of ENCODE_CASES) {
    const frame = frameFor(1, body(c.body, 1));
    const data = frame.data;
    const n = c.batch;
    checkEncoders(c.label, frame);
    pairs.push({
      group: 'encode',
      case: `encodeFrame ${c.label} (header+body)`,
      unit: 'frames/s',
      target: TARGET,
      opsPerCall: n,
      mproxy: () => {
        for (let i = 0; i < n; i++) sink ^= encodeFrame(frame)[1];
      },
      baseline: () => {
        for (let i = 0; i < n; i++) sink ^= packer.packHeader(frame, data, undefined, true)[1];
      },
    });
    pairs.push({
      group: 'encode',
      case: `encodeFrameParts ${c.label} (header only)`,
      unit: 'frames/s',
      target: TARGET,
      opsPerCall: n,
      mproxy: () => {
        for (let i = 0; i < n; i++) sink ^= encodeFrameParts(frame).header[1];
      },
      baseline: () => {
        for (let i = 0; i < n; i++) sink ^= packer.packHeader(frame, data)[1];
      },
    });
  }

  const rows = await comparePairs(ctx, pairs);
  if (sink === -1) ctx.log('unreachable'); // keeps `sink` observable
  return rows;
}
