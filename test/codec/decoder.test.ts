import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameDecoder,
  InvalidOptionError,
  MproxyError,
  ProtocolError,
  addrToId,
  encodeFrame,
  type Frame,
} from '../../src/index.js';

/** A raw frame: version byte, header length, header text, body. */
function raw(header: string | Uint8Array, body: Uint8Array | string = new Uint8Array(0), version = 0xfe): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  return Buffer.concat([Buffer.from([version, h.length]), h, b]);
}

/** What `push` threw, asserted to be a ProtocolError with `code`. */
function failure(run: () => unknown, code: string): ProtocolError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect(caught).toBeInstanceOf(MproxyError);
  expect((caught as ProtocolError).code).toBe(code);
  return caught as ProtocolError;
}

function decodeOne(bytes: Uint8Array): Frame {
  const decoder = new FrameDecoder();
  const frames = decoder.push(bytes);
  decoder.end();
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

function plain(frame: Frame): Record<string, unknown> {
  return { ...frame, data: Buffer.from(frame.data).toString('hex') };
}

describe('FrameDecoder: E_BAD_VERSION', () => {
  it('refuses a first byte other than 0xfe as soon as that byte arrives', () => {
    const decoder = new FrameDecoder();
    const error = failure(() => decoder.push(Uint8Array.of(0xff)), 'E_BAD_VERSION');
    expect(error.message).toContain('0xff');
  });

  it('refuses a bad version byte that follows a valid frame, keeping the valid frame in error.frames', () => {
    const good = encodeFrame({ kind: 'data', family: 'IPv4', address: '1.2.3.4', port: 5, data: Uint8Array.of(7) });
    const decoder = new FrameDecoder();
    const error = failure(() => decoder.push(Buffer.concat([good, raw('IPv4,a,1,0', '', 0xfd)])), 'E_BAD_VERSION');
    expect(error.frames).toHaveLength(1);
    expect([...error.frames[0]!.data]).toEqual([7]);
  });
});

describe('FrameDecoder: E_BAD_HEADER', () => {
  const cases: Array<[string, string | Uint8Array]> = [
    ['fewer than 4 fields', 'IPv4,1.2.3.4,5'],
    ['one field', 'IPv4'],
    ['a header shorter than ",,,0"', ',,,'],
    ['an empty header', ''],
    ['more than 8 fields', 'IPv4,a,1,0,connection,443,n,https,x'],
    ['8 fields on a data frame', 'IPv4,a,1,0,https,443,n,x'],
    ['8 fields on an end frame', 'IPv4,a,1,0,end,443,n,x'],
    ['8 fields on a control frame', ',,,0,control,,,x'],
    ['port above 65535', 'IPv4,a,65536,0'],
    ['port with a leading zero', 'IPv4,a,0443,0'],
    ['port 00', 'IPv4,a,00,0'],
    ['negative port', 'IPv4,a,-1,0'],
    ['port with a plus sign', 'IPv4,a,+443,0'],
    ['port with a space', 'IPv4,a, 443,0'],
    ['port with a letter', 'IPv4,a,44a,0'],
    ['port with 6 digits', 'IPv4,a,100000,0'],
    ['serviceport above 65535', 'IPv4,a,1,0,https,65536,n'],
    ['serviceport with a leading zero', 'IPv4,a,1,0,https,0443,n'],
    ['serviceport not a number', 'IPv4,a,1,0,https,https,n'],
    ['serviceport negative', 'IPv4,a,1,0,https,-443,n'],
    ['empty datalen', 'IPv4,a,1,,https'],
    ['datalen with a letter', 'IPv4,a,1,12x'],
    ['hexadecimal datalen', 'IPv4,a,1,0x10'],
    ['exponent datalen', 'IPv4,a,1,1e3'],
    ['negative datalen', 'IPv4,a,1,-1'],
    ['datalen with a space', 'IPv4,a,1, 1'],
    ['datalen with a decimal point', 'IPv4,a,1,1.0'],
    ['a newline', 'IPv4,a,1,0,https,443,evil\nX-Forwarded-For: 1'],
    ['a carriage return', 'IPv4,a,1,0,https,443,evil\r'],
    ['a tab', 'IPv4,a,1,0,ht\ttps,443,n'],
    ['a NUL byte', 'IPv4\0,a,1,0'],
    ['a DEL byte', 'IPv4,a\x7f,1,0'],
    ['a lone continuation byte', Buffer.concat([Buffer.from('IPv4,a,1,0,https,443,'), Buffer.from([0x80])])],
    ['a 0xff byte', Buffer.concat([Buffer.from('IPv4,a,1,0,https,443,'), Buffer.from([0xff])])],
    ['a truncated 2-byte sequence', Buffer.concat([Buffer.from('IPv4,a,1,0,https,443,x'), Buffer.from([0xc3])])],
    ['an overlong encoding of "/"', Buffer.concat([Buffer.from('IPv4,a,1,0,https,443,'), Buffer.from([0xc0, 0xaf])])],
    ['an encoded surrogate', Buffer.concat([Buffer.from('IPv4,a,1,0,https,443,'), Buffer.from([0xed, 0xa0, 0x80])])],
  ];

  it.each(cases)('refuses %s', (_why, header) => {
    const error = failure(() => new FrameDecoder().push(raw(header)), 'E_BAD_HEADER');
    expect(error.frames).toEqual([]);
  });

  it('accepts 8 fields on a connection frame, the 8th being the service', () => {
    const frame = decodeOne(raw('IPv4,a,1,0,connection,443,n,https'));
    expect(frame.kind).toBe('connection');
    expect(frame.service).toBe('https');
  });

  it('accepts the boundary values of ports', () => {
    expect(decodeOne(raw('IPv4,a,0,0,https,65535,n')).port).toBe(0);
    expect(decodeOne(raw('IPv4,a,65535,0,https,0,n')).serviceport).toBe(0);
  });

  it('keeps frames completed earlier in the same push in error.frames, but not those of earlier pushes', () => {
    const a = encodeFrame({ kind: 'data', family: 'IPv4', address: 'a', port: 1, data: Uint8Array.of(1) });
    const b = encodeFrame({ kind: 'end', family: 'IPv4', address: 'b', port: 2 });
    const c = encodeFrame({ kind: 'pause', family: 'IPv4', address: 'c', port: 3 });
    const decoder = new FrameDecoder();
    expect(decoder.push(a)).toHaveLength(1);
    const error = failure(() => decoder.push(Buffer.concat([b, c, raw('IPv4,a,99999,0')])), 'E_BAD_HEADER');
    expect(error.frames.map((f) => f.kind)).toEqual(['end', 'pause']);
  });
});

describe('FrameDecoder: E_FRAME_TOO_LARGE', () => {
  it('refuses a header announcing 2 GB the moment the header is read, with no body buffered', () => {
    const decoder = new FrameDecoder();
    const header = raw('IPv4,1.2.3.4,5,2147483648,https,443,example.com');
    // Everything but the last header byte: nothing to decide yet.
    expect(decoder.push(header.subarray(0, header.length - 1))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(header.length - 1);
    const error = failure(() => decoder.push(header.subarray(header.length - 1)), 'E_FRAME_TOO_LARGE');
    expect(error.message).toContain('2147483648');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('refuses a frame announcing 2^53 bytes even with the largest maxFrameSize', () => {
    const decoder = new FrameDecoder({ maxFrameSize: Number.MAX_SAFE_INTEGER });
    failure(() => decoder.push(raw(`IPv4,a,1,${2 ** 53}`)), 'E_FRAME_TOO_LARGE');
  });

  it('refuses a datalen of more digits than a safe integer has as too large, not as malformed', () => {
    failure(() => new FrameDecoder().push(raw(`IPv4,a,1,${'9'.repeat(40)}`)), 'E_FRAME_TOO_LARGE');
    failure(() => new FrameDecoder().push(raw(`IPv4,a,1,1${'0'.repeat(200)}`)), 'E_FRAME_TOO_LARGE');
  });

  it('accepts a body of exactly maxFrameSize and refuses one byte more', () => {
    const body = new Uint8Array(16).fill(9);
    const ok = new FrameDecoder({ maxFrameSize: 16 }).push(encodeFrame({ kind: 'data', data: body }));
    expect(ok).toHaveLength(1);
    const tooBig = encodeFrame({ kind: 'data', data: new Uint8Array(17) });
    failure(() => new FrameDecoder({ maxFrameSize: 16 }).push(tooBig), 'E_FRAME_TOO_LARGE');
  });

  it('with maxFrameSize 0 accepts only empty bodies', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 0 });
    expect(decoder.push(encodeFrame({ kind: 'end', family: 'IPv4', address: 'a', port: 1 }))).toHaveLength(1);
    failure(() => decoder.push(encodeFrame({ kind: 'data', data: Uint8Array.of(1) })), 'E_FRAME_TOO_LARGE');
  });

  it('defaults maxFrameSize to 16 MiB', () => {
    expect(DEFAULT_MAX_FRAME_SIZE).toBe(16 * 1024 * 1024);
    expect(new FrameDecoder().push(raw(`IPv4,a,1,${16 * 1024 * 1024}`))).toEqual([]);
    failure(() => new FrameDecoder().push(raw(`IPv4,a,1,${16 * 1024 * 1024 + 1}`)), 'E_FRAME_TOO_LARGE');
  });
});

describe('FrameDecoder: end() and E_TRUNCATED', () => {
  const frame = encodeFrame({ kind: 'data', family: 'IPv4', address: 'a', port: 1, data: Uint8Array.of(1, 2, 3) });

  it('accepts end() with no input, and at a frame boundary', () => {
    expect(() => new FrameDecoder().end()).not.toThrow();
    const decoder = new FrameDecoder();
    decoder.push(frame);
    expect(decoder.atFrameBoundary).toBe(true);
    expect(() => decoder.end()).not.toThrow();
  });

  it.each([1, 2, 5, frame.length - 3, frame.length - 1])('refuses end() after %i bytes of a frame', (cut) => {
    const decoder = new FrameDecoder();
    expect(decoder.push(frame.subarray(0, cut))).toEqual([]);
    expect(decoder.atFrameBoundary).toBe(false);
    expect(decoder.bufferedBytes).toBe(cut);
    const error = failure(() => decoder.end(), 'E_TRUNCATED');
    expect(error.message).toContain(`(${cut} bytes of it received)`);
  });

  it.each([frame.length - 3, frame.length - 1])('with splitData, counts the pieces handed on: end() after %i bytes', (cut) => {
    const decoder = new FrameDecoder({ splitData: true });
    const pieces = decoder.push(frame.subarray(0, cut));
    expect(pieces.map((piece) => piece.data.length)).toEqual([cut - (frame.length - 3)].filter((n) => n > 0));
    const error = failure(() => decoder.end(), 'E_TRUNCATED');
    expect(error.message).toContain(`(${cut} bytes of it received)`);
  });
});

describe('FrameDecoder: a failed decoder stays failed', () => {
  it('rethrows the same error from push and end', () => {
    const decoder = new FrameDecoder();
    const error = failure(() => decoder.push(raw('IPv4,a,1')), 'E_BAD_HEADER');
    const valid = encodeFrame({ kind: 'end', family: 'IPv4', address: 'a', port: 1 });
    expect(() => decoder.push(valid)).toThrow(error);
    let again: unknown;
    try {
      decoder.push(valid);
    } catch (e) {
      again = e;
    }
    expect(again).toBe(error);
    try {
      decoder.end();
    } catch (e) {
      again = e;
    }
    expect(again).toBe(error);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rethrows E_TRUNCATED from a later end()', () => {
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.of(0xfe));
    const error = failure(() => decoder.end(), 'E_TRUNCATED');
    let again: unknown;
    try {
      decoder.push(Uint8Array.of(0x10));
    } catch (e) {
      again = e;
    }
    expect(again).toBe(error);
  });
});

describe('FrameDecoder: header forms', () => {
  it('accepts the README 5-field header, trailing fields empty', () => {
    const frame = decodeOne(raw('IPv4,127.0.1.1,443,3,foo', 'abc'));
    expect(plain(frame)).toEqual({
      kind: 'data',
      id: 'IPv4,127.0.1.1,443',
      family: 'IPv4',
      address: '127.0.1.1',
      port: 443,
      service: 'foo',
      serviceport: null,
      name: '',
      data: '616263',
    });
  });

  it('accepts a 4-field header as data with an empty service', () => {
    const frame = decodeOne(raw('IPv6,::1,80,0'));
    expect(plain(frame)).toEqual({
      kind: 'data',
      id: 'IPv6,::1,80',
      family: 'IPv6',
      address: '::1',
      port: 80,
      service: '',
      serviceport: null,
      name: '',
      data: '',
    });
  });

  it('accepts a 6-field header (no name)', () => {
    const frame = decodeOne(raw('IPv4,a,1,0,tcp,5050'));
    expect([frame.service, frame.serviceport, frame.name]).toEqual(['tcp', 5050, '']);
  });

  it('reads the empty-address control header', () => {
    const frame = decodeOne(raw(',,,2,control', '[]'));
    expect(plain(frame)).toEqual({
      kind: 'control',
      id: ',,',
      family: '',
      address: '',
      port: null,
      service: '',
      serviceport: null,
      name: '',
      data: '5b5d',
    });
  });

  it('reads a 7-field connection frame as having no service', () => {
    const frame = decodeOne(raw('IPv4,a,1,0,connection,443,n'));
    expect([frame.kind, frame.service, frame.serviceport, frame.name]).toEqual(['connection', '', 443, 'n']);
  });

  it.each(['end', 'error', 'pause', 'resume'] as const)('reads %s as its own kind with an empty service', (kind) => {
    const frame = decodeOne(raw(`IPv4,a,1,0,${kind},443,n`));
    expect([frame.kind, frame.service, frame.serviceport, frame.name]).toEqual([kind, '', 443, 'n']);
  });

  it('accepts a datalen with leading zeros, as the reference does', () => {
    expect(Buffer.from(decodeOne(raw('IPv4,a,1,003', 'xyz')).data).toString()).toBe('xyz');
  });

  it('gives the id as addrToId does', () => {
    const frame = decodeOne(raw('IPv4,10.0.0.1,4000,0,https,443,a'));
    expect(frame.id).toBe(addrToId({ family: 'IPv4', address: '10.0.0.1', port: 4000 }));
    expect(decodeOne(raw('IPv4,10.0.0.1,,0')).id).toBe('IPv4,10.0.0.1,');
  });

  it('decodes UTF-8 names, and keeps a leading byte-order mark', () => {
    const frame = decodeOne(raw('\ufeffIPv4,a,1,0,https,443,bücher.例え.jp😀'));
    expect(frame.family).toBe('\ufeffIPv4');
    expect(frame.id).toBe('\ufeffIPv4,a,1');
    expect(frame.name).toBe('bücher.例え.jp😀');
  });

  it("reads proxy-packer pack()'s one-space body for an empty payload", () => {
    const frame = decodeOne(raw('IPv4,a,1,1,end,,', ' '));
    expect([frame.kind, [...frame.data]]).toEqual(['end', [32]]);
  });
});

describe('FrameDecoder: buffering and zero copy', () => {
  const body = Uint8Array.from({ length: 32 }, (_, i) => i);
  const encoded = encodeFrame({ kind: 'data', family: 'IPv4', address: 'a', port: 1, service: 'tcp', data: body });
  const bodyOffset = encoded.length - body.length;

  it('gives a body lying whole in one chunk as a view of that chunk', () => {
    const chunk = new Uint8Array(encoded); // its own ArrayBuffer, not Node's pool
    const [frame] = new FrameDecoder().push(chunk);
    expect(frame!.data.buffer).toBe(chunk.buffer);
    expect(frame!.data.byteOffset).toBe(bodyOffset);
    chunk[bodyOffset] = 0xaa;
    expect(frame!.data[0]).toBe(0xaa);
  });

  it('copies a body that straddles two chunks', () => {
    const chunk = new Uint8Array(encoded);
    const decoder = new FrameDecoder();
    expect(decoder.push(chunk.subarray(0, bodyOffset + 10))).toEqual([]);
    const [frame] = decoder.push(chunk.subarray(bodyOffset + 10));
    expect([...frame!.data]).toEqual([...body]);
    expect(frame!.data.buffer).not.toBe(chunk.buffer);
    chunk[bodyOffset] = 0xaa;
    chunk[bodyOffset + 20] = 0xbb;
    expect([...frame!.data]).toEqual([...body]);
  });

  it('decodes every cut of two frames into the same two frames', () => {
    const second = encodeFrame({ kind: 'resume', family: 'IPv4', address: 'b', port: 2 });
    const stream = Buffer.concat([encoded, second]);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const decoder = new FrameDecoder();
        const frames = [
          ...decoder.push(stream.subarray(0, i)),
          ...decoder.push(stream.subarray(i, j)),
          ...decoder.push(stream.subarray(j)),
        ];
        expect(frames.map((f) => f.kind)).toEqual(['data', 'resume']);
        expect([...frames[0]!.data]).toEqual([...body]);
        expect(decoder.atFrameBoundary).toBe(true);
      }
    }
  });

  it('counts bufferedBytes of the unfinished frame only', () => {
    const decoder = new FrameDecoder();
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.push(Buffer.concat([encoded, encoded.subarray(0, 7)]))).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(7);
    expect(decoder.push(encoded.subarray(7))).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
  });
});

describe('FrameDecoder options', () => {
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1024'])('refuses maxFrameSize %s', (value) => {
    let caught: unknown;
    try {
      new FrameDecoder({ maxFrameSize: value as number });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect((caught as InvalidOptionError).code).toBe('E_INVALID_OPTION');
  });

  it('accepts no options, empty options and an undefined maxFrameSize', () => {
    expect(() => new FrameDecoder()).not.toThrow();
    expect(() => new FrameDecoder({})).not.toThrow();
    expect(() => new FrameDecoder({ maxFrameSize: undefined })).not.toThrow();
  });
});
