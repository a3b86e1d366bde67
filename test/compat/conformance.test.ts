import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as Packer from '../../src/compat/index.js';
import {
  EVENT_OF,
  HANDLER_NAMES,
  cut,
  dataOf,
  entries,
  loadVectors,
  prng,
  randomSizes,
  recorder,
  type Call,
  type DecodeCase,
  type PackCase,
  vectorEntries,
} from './helpers.js';

const vectors = loadVectors();

function runPack(c: PackCase): Buffer {
  const meta = { ...c.meta };
  const data = dataOf(c.data);
  switch (c.fn) {
    case 'pack':
      return Packer.pack(meta, data, c.service);
    case 'packHeader':
      return Packer.packHeader(meta, data, c.service);
    case 'packHeaderBody':
      return Packer.packHeader(meta, data, c.service, true);
  }
}

function expected(c: DecodeCase): Call[] {
  return c.events.map((e) => ({ handler: e.handler, msg: vectorEntries(e.msg) }));
}

// The vectors write undefined as null: compare in that notation, entries keep key order.
function decodeWithHandlers(c: DecodeCase, sizes: readonly number[]): Call[] {
  const { handlers, calls } = recorder();
  const unpacker = Packer.create(handlers);
  for (const chunk of cut(Buffer.from(c.stream, 'hex'), sizes)) unpacker.fns.addChunk(chunk);
  return calls;
}

function cuts(c: DecodeCase, index: number): [string, number[]][] {
  const length = c.stream.length / 2;
  const random = prng(1000 + index);
  return [
    ['listed', c.chunks],
    ['whole', [length]],
    ['1 byte at a time', Array.from({ length }, () => 1)],
    ['random small', randomSizes(length, random, 8)],
    ['random large', randomSizes(length, random, 200)],
  ];
}

describe('conformance vectors: pack', () => {
  it('has the vectors of proxy-packer@2.0.4', () => {
    expect(vectors.reference).toBe('proxy-packer@2.0.4');
    expect(vectors.pack.length).toBeGreaterThan(100);
  });

  it.each(vectors.pack.map((c, i) => [i, c.fn, c.service, c] as const))('pack case %i (%s, %s)', (_i, _fn, _service, c) => {
    expect(runPack(c).toString('hex')).toBe(c.expect);
  });

  it('returns Buffers', () => {
    for (const c of vectors.pack.slice(0, 20)) expect(Buffer.isBuffer(runPack(c))).toBe(true);
  });

  it('writes the README example as the reference tool does (sni-hello, 253 bytes)', () => {
    const dir = new URL('../fixtures/sni-hello/', import.meta.url);
    const input = JSON.parse(readFileSync(new URL('input.json', dir), 'utf8')) as { address: Packer.PackerMeta };
    const hello = readFileSync(new URL('sni.hello.bin', dir));
    // The reference tool (test/pack.js) replaces input.json's name with the ClientHello's SNI.
    const out = Packer.pack({ ...input.address, name: 'pokemap.hellabit.com' }, hello);
    expect(out.toString('hex')).toBe(readFileSync(new URL('expected.bin', dir)).toString('hex'));
  });
});

describe('conformance vectors: decode (handler mode)', () => {
  it('has decode vectors with many events', () => {
    expect(vectors.decode.length).toBeGreaterThan(50);
    expect(vectors.decode.every((c) => c.events.length > 0)).toBe(true);
  });

  it.each(vectors.decode.map((c, i) => [i, c] as const))('decode case %i, whatever the chunking', (i, c) => {
    const want = expected(c);
    for (const [how, sizes] of cuts(c, i)) {
      expect(decodeWithHandlers(c, sizes), how).toEqual(want);
    }
  });

  it('hands out Buffers, and undefined for empty bodies', () => {
    const seen: unknown[] = [];
    const record = (msg: Packer.PackerMessage): void => void seen.push(msg.data);
    const unpacker = Packer.create({ onmessage: record, onconnection: record, oncontrol: record, onerror: record, onend: record, onpause: record, onresume: record });
    for (const c of vectors.decode) unpacker.fns.addChunk(Buffer.from(c.stream, 'hex'));
    expect(seen.some((d) => d === undefined)).toBe(true);
    expect(seen.every((d) => d === undefined || Buffer.isBuffer(d))).toBe(true);
  });
});

describe('conformance vectors: decode (EventEmitter mode)', () => {
  it.each(vectors.decode.map((c, i) => [i, c] as const))('decode case %i emits the events of its handlers', (i, c) => {
    const want = c.events.map((e) => ({ event: EVENT_OF[e.handler as (typeof HANDLER_NAMES)[number]], msg: vectorEntries(e.msg) }));
    for (const [how, sizes] of cuts(c, i).slice(0, 3)) {
      const unpacker = Packer.create({ onend: () => expect.unreachable('handlers are not called in EventEmitter mode') });
      expect(unpacker).toBeInstanceOf(EventEmitter);
      const got: { event: string; msg: unknown }[] = [];
      for (const name of HANDLER_NAMES) {
        const event = EVENT_OF[name] as keyof Packer.UnpackerEvents;
        unpacker.on(event, (msg: Packer.PackerMessage) => got.push({ event, msg: entries(msg) }));
      }
      for (const chunk of cut(Buffer.from(c.stream, 'hex'), sizes)) unpacker.fns.addData(chunk);
      expect(got, how).toEqual(want);
    }
  });
});
