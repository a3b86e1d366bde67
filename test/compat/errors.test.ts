/** Where proxy-packer corrupts the stream or crashes, compat throws a typed error instead. */
import { describe, expect, it } from 'vitest';
import * as Packer from '../../src/compat/index.js';
import { InvalidFrameError, InvalidOptionError, MproxyError, ProtocolError } from '../../src/compat/index.js';
import { recorder, reference } from './helpers.js';

// Frozen: packing with a service mutates meta, so each such call gets its own copy.
const client = Object.freeze({ family: 'IPv4', address: '10.0.0.7', port: 33046 });

function thrown(fn: () => unknown): MproxyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MproxyError);
    return error as MproxyError;
  }
  return expect.unreachable('expected a throw');
}

function frame(header: string, body: Buffer | string = ''): Buffer {
  const h = Buffer.from(header);
  return Buffer.concat([Buffer.from([0xfe, h.length]), h, Buffer.from(body)]);
}

describe('pack/packHeader refuse what proxy-packer would corrupt', () => {
  it('refuses a header over 255 bytes, whose length byte would wrap (E_HEADER_TOO_LONG)', () => {
    const meta = { ...client, name: 'a'.repeat(240) };
    const wrapped = reference.pack({ ...meta }, Buffer.from('x'));
    expect(wrapped[1]).toBeLessThan(wrapped.length - 3); // the reference's byte no longer says it
    const error = thrown(() => Packer.pack({ ...meta }, Buffer.from('x')));
    expect(error).toBeInstanceOf(InvalidFrameError);
    expect(error.code).toBe('E_HEADER_TOO_LONG');
    expect(Packer.pack({ ...meta, name: 'a'.repeat(200) }, Buffer.from('x')).length).toBeGreaterThan(200);
  });

  it('refuses the header too long also when meta.service is control without the service argument', () => {
    expect(thrown(() => Packer.packHeader({ ...client, service: 'connection', name: 'n'.repeat(230) }, null)).code).toBe(
      'E_HEADER_TOO_LONG',
    );
  });

  it.each([
    ['a comma in the name', { ...client, name: 'a,b' }, undefined],
    ['a newline in the address', { ...client, address: '10.0.0.7\n' }, undefined],
    ['a comma in the service', { ...client, service: 'x,y' }, undefined],
    ['a comma in the service argument', { ...client }, 'x,y'],
    ['a comma in the service of a connection', { ...client, service: 'a,b' }, 'connection'],
    ['a DEL in the family', { ...client, family: 'IPv4\u007f' }, undefined],
    ['a lone surrogate in the name', { ...client, name: 'a\ud800' }, undefined],
  ] as const)('refuses %s (E_INVALID_FIELD)', (_why, meta, service) => {
    const error = thrown(() => Packer.pack({ ...meta }, Buffer.from('x'), service));
    expect(error).toBeInstanceOf(InvalidFrameError);
    expect(error.code).toBe('E_INVALID_FIELD');
  });

  it.each([['0443'], ['abc'], [' 443'], ['65536'], [65536], [-1], [1.5], [Number.NaN], ['']])(
    'refuses port %j unless it is empty, which is written as no port',
    (port) => {
      if (port === '') {
        expect(Packer.pack({ ...client, port }, null).toString()).toContain('IPv4,10.0.0.7,,1,');
        return;
      }
      expect(thrown(() => Packer.pack({ ...client, port }, null)).code).toBe('E_INVALID_FIELD');
      // proxy-packer writes `meta.serviceport || ''`: a falsy serviceport (NaN) is no port.
      if (port) expect(thrown(() => Packer.pack({ ...client, serviceport: port }, null)).code).toBe('E_INVALID_FIELD');
    },
  );

  it('writes serviceport 0 as empty, as proxy-packer does (meta.serviceport || "")', () => {
    const meta = { ...client, serviceport: 0 };
    expect(Packer.pack({ ...meta }, null).toString('hex')).toBe(reference.pack({ ...meta }, null).toString('hex'));
  });

  it('refuses fields that are not strings', () => {
    expect(thrown(() => Packer.pack({ ...client, family: 4 as unknown as string }, null)).code).toBe('E_INVALID_FIELD');
    expect(thrown(() => Packer.pack({ ...client }, null, 5 as unknown as string)).code).toBe('E_INVALID_FIELD');
  });

  it('refuses data that has no JSON form', () => {
    expect(thrown(() => Packer.pack(client, 10n)).code).toBe('E_INVALID_FIELD');
    expect(thrown(() => Packer.pack(client, () => 1)).code).toBe('E_INVALID_FIELD');
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(thrown(() => Packer.packHeader(client, cycle)).code).toBe('E_INVALID_FIELD');
  });

  it('still writes an empty control frame with packHeader, as the vectors pin', () => {
    expect(Packer.packHeader({}, null, 'control').toString('latin1')).toBe('\xfe\x0c,,,0,control');
  });
});

describe('create() throws ProtocolError where proxy-packer decodes garbage', () => {
  function failing(stream: Buffer, options?: Packer.DecoderOptions): { error: ProtocolError; calls: unknown[] } {
    const { handlers, calls } = recorder();
    const unpacker = Packer.create(handlers, options);
    let error: unknown;
    try {
      unpacker.fns.addChunk(stream);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    // Failed for good: later input is refused with the same error, and nothing is delivered twice.
    const before = calls.length;
    expect(() => unpacker.fns.addChunk(Packer.pack(client, Buffer.from('later')))).toThrow(error as Error);
    expect(calls.length).toBe(before);
    return { error: error as ProtocolError, calls };
  }

  const good = Packer.pack(client, Buffer.from('hello'));

  it('refuses a version byte other than 0xfe (E_BAD_VERSION)', () => {
    const bad = Buffer.from(good);
    bad[0] = 0xfd;
    expect(failing(bad).error.code).toBe('E_BAD_VERSION');
  });

  it('delivers the frames before the bad byte, then throws', () => {
    const { error, calls } = failing(Buffer.concat([good, good, Buffer.from([0x00, 0x01])]));
    expect(error.code).toBe('E_BAD_VERSION');
    expect(calls).toHaveLength(2);
  });

  it('refuses a datalen that is not a number (E_BAD_HEADER)', () => {
    expect(failing(frame('IPv4,10.0.0.7,1,abc,https,,')).error.code).toBe('E_BAD_HEADER');
  });

  it('refuses a header split by a comma in a field (E_BAD_HEADER)', () => {
    expect(failing(frame('IPv4,10.0.0.7,1,0,https,443,a,b')).error.code).toBe('E_BAD_HEADER');
    expect(failing(frame('IPv4,10.0.0.7,1,0,connection,443,a,b,c')).error.code).toBe('E_BAD_HEADER');
  });

  it('refuses a control character in the header (E_BAD_HEADER)', () => {
    expect(failing(frame('IPv4,10.0.0.7,1,0,https,443,a\nb')).error.code).toBe('E_BAD_HEADER');
  });

  it('refuses a port that is not canonical decimal (E_BAD_HEADER)', () => {
    expect(failing(frame('IPv4,10.0.0.7,0443,0,https,,')).error.code).toBe('E_BAD_HEADER');
  });

  it('refuses a frame larger than maxFrameSize before its body arrives (E_FRAME_TOO_LARGE)', () => {
    const header = frame('IPv4,10.0.0.7,1,2000000000,https,,');
    expect(failing(header).error.code).toBe('E_FRAME_TOO_LARGE');
    expect(failing(frame('IPv4,10.0.0.7,1,11,https,,'), { maxFrameSize: 10 }).error.code).toBe('E_FRAME_TOO_LARGE');
  });

  it('takes a frame of exactly maxFrameSize', () => {
    const { handlers, calls } = recorder();
    Packer.create(handlers, { maxFrameSize: 10 }).fns.addChunk(
      Packer.pack(client, Buffer.alloc(10)),
    );
    expect(calls).toHaveLength(1);
  });

  it('refuses an error body that is JSON but not an object, where proxy-packer crashes (E_BAD_ERROR_BODY)', () => {
    for (const body of ['5', 'null', '"text"', 'true']) {
      const stream = Packer.pack({ ...client }, Buffer.from(body), 'error');
      expect(() => reference.create({ onmessage() {}, onerror() {} }).fns.addChunk(stream)).toThrow(TypeError);
      expect(failing(stream).error.code).toBe('E_BAD_ERROR_BODY');
    }
  });

  it('refuses a control frame without a body (E_EMPTY_CONTROL)', () => {
    expect(failing(Packer.packHeader({}, null, 'control', true)).error.code).toBe('E_EMPTY_CONTROL');
  });

  it('refuses an invalid maxFrameSize (E_INVALID_OPTION)', () => {
    const error = thrown(() => Packer.create({ onmessage() {} }, { maxFrameSize: -1 }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.code).toBe('E_INVALID_OPTION');
  });

  it('throws E_NO_HANDLER when onmessage was removed from the unpacker', () => {
    const unpacker = Packer.create({ onmessage() {} });
    unpacker.onmessage = undefined;
    expect(thrown(() => unpacker.fns.addChunk(good)).code).toBe('E_NO_HANDLER');
  });
});

describe('a handler that throws', () => {
  it('loses nothing: the frames after it are delivered, in order, on the next call', () => {
    const seen: string[] = [];
    let fail = true;
    const unpacker = Packer.create({
      onmessage(msg) {
        seen.push(String(msg.data));
        if (fail && msg.data?.toString() === 'b') {
          fail = false;
          throw new Error('handler failed');
        }
      },
    });
    const stream = Buffer.concat(['a', 'b', 'c', 'd'].map((s) => Packer.pack(client, Buffer.from(s))));
    expect(() => unpacker.fns.addChunk(stream)).toThrow('handler failed');
    expect(seen).toEqual(['a', 'b']);
    unpacker.fns.addChunk(Packer.pack(client, Buffer.from('e')));
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
