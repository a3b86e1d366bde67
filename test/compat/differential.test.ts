/**
 * compat against the real proxy-packer@2.0.4 on random inputs: same bytes, same meta mutation,
 * same handler calls (and events) whatever the chunking.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as Packer from '../../src/compat/index.js';
import { MproxyError } from '../../src/compat/index.js';
import { HANDLER_NAMES, cut, entries, recorder, reference, type HandlerName } from './helpers.js';

// A field proxy-packer can carry without corrupting the header: no comma, no control
// character, valid UTF-16 (a lone surrogate is sent as U+FFFD and does not come back).
const isCarriable = (s: string): boolean => !/[\u0000-\u001f\u007f,]/.test(s) && Buffer.from(s).toString() === s;
const safeText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
).filter(isCarriable);

const family = fc.oneof(fc.constantFrom('IPv4', 'IPv6', ''), safeText);
const address = fc.oneof(fc.constantFrom('127.0.0.1', '::ffff:10.0.0.7', '2001:db8::42', ''), safeText);
const portNumber = fc.integer({ min: 0, max: 65535 });
const port = fc.oneof(portNumber, portNumber.map(String), fc.constantFrom(undefined, null, ''));
const SERVICES = ['connection', 'control', 'end', 'error', 'pause', 'resume', 'https', 'http', 'tcp', 'udp', 'ssh', 'data', 'default'];
const serviceName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SERVICES) }, { weight: 1, arbitrary: safeText });
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined | null> =>
  fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: fc.constantFrom(undefined, null) });

const meta = fc.record(
  {
    family: optional(family),
    address: optional(address),
    port,
    service: optional(serviceName),
    serviceport: port,
    name: optional(safeText),
  },
  { requiredKeys: [] },
);

const data = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) },
  { weight: 2, arbitrary: fc.constantFrom(null, undefined, Buffer.alloc(0), '', 0, false) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);

const call = fc.record({
  meta,
  data,
  service: optional(serviceName),
  andBody: fc.oneof(fc.boolean(), fc.constantFrom(undefined, 1, 0)),
  oldways: fc.oneof(fc.boolean(), fc.constant(undefined)),
  fn: fc.constantFrom('pack', 'packHeader'),
});

type Call = typeof call extends fc.Arbitrary<infer T> ? T : never;

function copy<T extends object>(o: T): T {
  return { ...o };
}

function viaCompat(c: Call, m: Packer.PackerMeta): Buffer {
  const service = c.service as string | null | undefined;
  return c.fn === 'pack'
    ? Packer.pack(m, c.data, service)
    : Packer.packHeader(m, c.data, service, c.andBody as boolean, c.oldways);
}

function viaReference(c: Call, m: object, headerOnly = false): Buffer {
  if (c.fn === 'pack') {
    return headerOnly ? reference.packHeader(m, c.data, c.service, false, true) : reference.pack(m, c.data, c.service);
  }
  return reference.packHeader(m, c.data, c.service, headerOnly ? false : c.andBody, c.oldways);
}

describe('pack and packHeader against proxy-packer', () => {
  it('give the same bytes and mutate meta the same way, or refuse a header over 255 bytes', () => {
    let same = 0;
    let tooLong = 0;
    fc.assert(
      fc.property(call, (c) => {
        const ours = copy(c.meta);
        const theirs = copy(c.meta);
        let out: Buffer;
        try {
          out = viaCompat(c, ours);
        } catch (error) {
          // The only refusal for carriable fields: a header whose length byte would wrap.
          expect(error).toBeInstanceOf(MproxyError);
          expect((error as MproxyError).code).toBe('E_HEADER_TOO_LONG');
          const headerOnly = viaReference(c, copy(c.meta), true);
          expect(headerOnly.length - 2).toBeGreaterThan(255);
          tooLong++;
          return;
        }
        const expected = viaReference(c, theirs);
        expect(out.toString('hex')).toBe(expected.toString('hex'));
        expect(Buffer.isBuffer(out)).toBe(true);
        expect(ours).toEqual(theirs);
        expect(Object.keys(ours)).toEqual(Object.keys(theirs));
        same++;
      }),
      { numRuns: 4000, seed: 0x5eed },
    );
    // Not vacuous: nearly every input is packed, and the length check is reached too.
    expect(same).toBeGreaterThan(3500);
    expect(same + tooLong).toBe(4000);
  });
});

// ---- decoding ----

interface FrameSpec {
  bytes: Buffer;
}

const body = fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u));
const errorBody = fc.oneof(
  body.filter((b) => {
    try {
      const parsed: unknown = JSON.parse(b.toString());
      return parsed !== null && typeof parsed === 'object';
    } catch {
      return true; // not JSON: proxy-packer's fallback message
    }
  }),
  fc.record({ message: fc.string({ maxLength: 12 }), code: fc.string({ maxLength: 8 }) }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => v !== null && typeof v === 'object').map((v) => Buffer.from(JSON.stringify(v))),
  fc.constant(Buffer.alloc(0)),
);

// Frames as proxy-packer writes them (packHeader with the body, or pack).
const packedFrame: fc.Arbitrary<FrameSpec> = fc
  .record({
    meta: fc.record({ family, address, port: fc.oneof(portNumber, fc.constant(undefined)), serviceport: fc.oneof(portNumber, fc.constant(undefined)), name: optional(safeText), service: optional(serviceName) }, { requiredKeys: [] }),
    service: optional(fc.constantFrom('connection', 'control', 'end', 'error', 'pause', 'resume', 'https', 'tcp')),
    body,
    errorBody,
    oldways: fc.boolean(),
  })
  .map(({ meta: m, service, body: b, errorBody: eb, oldways }) => {
    const kind = service || m.service || '';
    let payload = kind === 'error' ? eb : b;
    // An empty control body is refused by compat (see the error tests); give it one.
    if (kind === 'control' && payload.length === 0) payload = Buffer.from('[0]');
    return { bytes: reference.packHeader({ ...m }, payload, service, true, oldways && kind !== 'error') };
  });

// Frames whose headers lack trailing fields, which only hand-made (or older) peers send.
const shortFrame: fc.Arbitrary<FrameSpec> = fc
  .record({
    fields: fc.integer({ min: 4, max: 7 }),
    family,
    address,
    port: fc.oneof(portNumber.map(String), fc.constant('')),
    service: fc.constantFrom('connection', 'end', 'error', 'pause', 'resume', 'https', ''),
    serviceport: fc.oneof(portNumber.map(String), fc.constant('')),
    name: safeText,
    body,
  })
  .map((f) => {
    const payload = f.service === 'error' ? Buffer.from('{"message":"x","code":"E"}') : f.body;
    const text = [f.family, f.address, f.port, String(payload.length), f.service, f.serviceport, f.name].slice(0, f.fields).join(',');
    const header = Buffer.from(text);
    return { bytes: Buffer.concat([Buffer.from([0xfe, header.length]), header, payload]) };
  });

const streamCase = fc.record({
  frames: fc.array(fc.oneof({ weight: 4, arbitrary: packedFrame }, { weight: 1, arbitrary: shortFrame }), { minLength: 1, maxLength: 8 }),
  cuts: fc.array(fc.nat({ max: 40 }), { maxLength: 30 }),
  handlers: fc.subarray(HANDLER_NAMES.filter((n) => n !== 'onmessage')),
});

// Headers over 255 bytes wrap the reference's length byte: not a valid stream.
const fits = (f: FrameSpec): boolean => f.bytes.length >= 2 && 2 + (f.bytes[1] as number) <= f.bytes.length && f.bytes.subarray(2, 2 + (f.bytes[1] as number)).toString().split(',').length >= 4;

describe('create() against proxy-packer', () => {
  it('calls the same handlers with the same messages, whatever the chunking', () => {
    let calls = 0;
    fc.assert(
      fc.property(streamCase, ({ frames, cuts, handlers }) => {
        fc.pre(frames.every(fits));
        const stream = Buffer.concat(frames.map((f) => f.bytes));
        const names: HandlerName[] = ['onmessage', ...handlers];
        const ours = recorder(names);
        const theirs = recorder(names);
        const unpacker = Packer.create(ours.handlers);
        const machine = reference.create(theirs.handlers);
        for (const chunk of cut(stream, cuts)) {
          unpacker.fns.addChunk(chunk);
          machine.fns.addChunk(chunk);
        }
        expect(ours.calls).toEqual(theirs.calls);
        // One call per frame, except connection frames when onconnection is left to its no-op.
        if (names.includes('onconnection')) expect(ours.calls.length).toBe(frames.length);
        calls += ours.calls.length;
      }),
      { numRuns: 1500, seed: 0xdec0de },
    );
    expect(calls).toBeGreaterThan(1500);
  });

  it('emits the same events in EventEmitter mode, with the message as argument', () => {
    fc.assert(
      fc.property(streamCase, ({ frames, cuts }) => {
        fc.pre(frames.every(fits));
        const stream = Buffer.concat(frames.map((f) => f.bytes));
        const ours: string[] = [];
        const theirs: string[] = [];
        const messages: unknown[] = [];
        const unpacker = Packer.create({});
        const machine = reference.create({});
        const events = ['tunnelData', 'tunnelConnection', 'tunnelControl', 'tunnelError', 'tunnelEnd', 'tunnelPause', 'tunnelResume'] as const;
        for (const event of events) {
          unpacker.on(event, (msg) => {
            ours.push(event);
            messages.push(entries(msg));
          });
          machine.on?.(event, (...args) => theirs.push(args.length === 0 ? event : 'with arguments?'));
        }
        const all = recorder();
        const viaHandlers = Packer.create(all.handlers);
        for (const chunk of cut(stream, cuts)) {
          unpacker.fns.addChunk(chunk);
          machine.fns.addChunk(chunk);
          viaHandlers.fns.addChunk(chunk);
        }
        expect(ours).toEqual(theirs);
        expect(messages).toEqual(all.calls.map((c) => c.msg));
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
