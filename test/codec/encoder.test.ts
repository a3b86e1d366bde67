import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  InvalidFrameError,
  MproxyError,
  encodeFrame,
  encodeFrameParts,
  type FrameInit,
  type FrameKind,
} from '../../src/index.js';

interface ReferenceMeta {
  family?: unknown;
  address?: unknown;
  port?: unknown;
  service?: unknown;
  serviceport?: unknown;
  name?: unknown;
}
interface ProxyPacker {
  packHeader(meta: ReferenceMeta, data: Buffer | null, service?: string, andBody?: boolean): Buffer;
}
const packer = createRequire(import.meta.url)('proxy-packer') as ProxyPacker;

function failure(run: () => unknown, code: string): InvalidFrameError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidFrameError);
  expect(caught).toBeInstanceOf(MproxyError);
  expect((caught as InvalidFrameError).code).toBe(code);
  return caught as InvalidFrameError;
}

/** The header text of an encoded frame, checked against its length byte. */
function headerText(bytes: Uint8Array): string {
  expect(bytes[0]).toBe(0xfe);
  const length = bytes[1]!;
  return Buffer.from(bytes.subarray(2, 2 + length)).toString('utf8');
}

const client = { family: 'IPv4', address: '203.0.113.9', port: 61686, serviceport: 443, name: 'a.example.com' };
const body = Buffer.from('hello, world');

describe('encodeFrame: the header of each kind', () => {
  const cases: Array<[FrameKind, string, string | undefined]> = [
    ['data', 'IPv4,203.0.113.9,61686,12,https,443,a.example.com', undefined],
    ['connection', 'IPv4,203.0.113.9,61686,12,connection,443,a.example.com,https', 'connection'],
    ['end', 'IPv4,203.0.113.9,61686,12,end,443,a.example.com', 'end'],
    ['error', 'IPv4,203.0.113.9,61686,12,error,443,a.example.com', 'error'],
    ['pause', 'IPv4,203.0.113.9,61686,12,pause,443,a.example.com', 'pause'],
    ['resume', 'IPv4,203.0.113.9,61686,12,resume,443,a.example.com', 'resume'],
    ['control', ',,,12,control', 'control'],
  ];

  it.each(cases)('writes %s frames as proxy-packer packHeader does', (kind, expected, referenceService) => {
    const frame: FrameInit = { kind, ...client, service: 'https', data: body };
    const bytes = encodeFrame(frame);
    expect(headerText(bytes)).toBe(expected);
    expect(Buffer.from(bytes.subarray(2 + bytes[1]!)).equals(body)).toBe(true);

    const reference = packer.packHeader({ ...client, service: 'https' }, body, referenceService, true);
    expect(Buffer.from(bytes).equals(reference)).toBe(true);
    const referenceHeader = packer.packHeader({ ...client, service: 'https' }, body, referenceService);
    expect(Buffer.from(encodeFrameParts(frame).header).equals(referenceHeader)).toBe(true);
  });

  it('writes missing fields as empty, as the reference does', () => {
    const bytes = encodeFrame({ kind: 'data' });
    expect(headerText(bytes)).toBe(',,,0,,,');
    expect(Buffer.from(bytes).equals(packer.packHeader({}, null, undefined, true))).toBe(true);
  });

  it('writes port 0 as "0" and a null port as empty', () => {
    expect(headerText(encodeFrame({ kind: 'end', family: 'IPv4', address: 'a', port: 0, serviceport: 0 }))).toBe(
      'IPv4,a,0,0,end,0,',
    );
    expect(headerText(encodeFrame({ kind: 'end', family: 'IPv4', address: 'a', port: null, serviceport: null }))).toBe(
      'IPv4,a,,0,end,,',
    );
  });

  it('ignores the address, service, name and id of a control frame', () => {
    const bytes = encodeFrame({ kind: 'control', ...client, service: 'https', id: 'x', data: Buffer.from('[1]') });
    expect(headerText(bytes)).toBe(',,,3,control');
  });

  it('ignores a given id: the id comes from the address', () => {
    const [frame] = new FrameDecoder().push(encodeFrame({ kind: 'end', ...client, id: 'bogus' }));
    expect(frame!.id).toBe('IPv4,203.0.113.9,61686');
  });

  it('does not mutate its input', () => {
    const frame = Object.freeze({ kind: 'error' as const, ...client, service: 'https', data: body });
    expect(() => encodeFrame(frame)).not.toThrow();
    expect(frame.service).toBe('https');
  });

  it('gives the 253 bytes of the reference sni-hello example', () => {
    const hello = Buffer.from(
      '16030100c2010000be030357e376506603df997624c831e6e808346bb47bbb2cf317aa5cec09dada835ab200005600ffc024c023' +
        'c00ac009c008c028c027c014c013c012c026c025c005c004c003c02ac029c00fc00ec00d006b0067003900330016003d003c0035' +
        '002f000ac007c011c002c00c0005000400af00ae008d008c008a008b0100003f000000190017000014706f6b656d61702e68656c' +
        '6c616269742e636f6d000a00080006001700180019000b00020100000d000c000a05010401020104030203',
      'hex',
    );
    const bytes = encodeFrame({
      kind: 'data',
      family: 'IPv4',
      address: '127.0.1.1',
      port: 4321,
      service: 'foo',
      serviceport: 443,
      name: 'pokemap.hellabit.com',
      data: hello,
    });
    expect(bytes.length).toBe(253);
    expect(Buffer.from(bytes.subarray(0, 2)).toString('hex')).toBe('fe34');
    expect(headerText(bytes)).toBe('IPv4,127.0.1.1,4321,199,foo,443,pokemap.hellabit.com');
    expect(Buffer.from(bytes.subarray(54)).equals(hello)).toBe(true);
  });
});

describe('encodeFrame: header length', () => {
  // `IPv4,a,1,0,https,443,` is 21 bytes: the name fills the rest.
  const prefix = 'IPv4,a,1,0,https,443,';
  const frame = (name: string): FrameInit => ({
    kind: 'data',
    family: 'IPv4',
    address: 'a',
    port: 1,
    service: 'https',
    serviceport: 443,
    name,
  });

  it('accepts a header of exactly 255 bytes', () => {
    const bytes = encodeFrame(frame('n'.repeat(255 - prefix.length)));
    expect(bytes[1]).toBe(255);
    expect(bytes.length).toBe(257);
    expect(new FrameDecoder().push(bytes)).toHaveLength(1);
  });

  it('refuses a header of 256 bytes with E_HEADER_TOO_LONG', () => {
    const error = failure(() => encodeFrame(frame('n'.repeat(256 - prefix.length))), 'E_HEADER_TOO_LONG');
    expect(error.message).toContain('256');
    failure(() => encodeFrameParts(frame('n'.repeat(256 - prefix.length))), 'E_HEADER_TOO_LONG');
  });

  it('counts the datalen digits in the header length', () => {
    const name = 'n'.repeat(255 - prefix.length);
    failure(() => encodeFrame({ ...frame(name), data: new Uint8Array(10) }), 'E_HEADER_TOO_LONG');
  });

  it('measures UTF-8 names in bytes, not characters', () => {
    // 2 bytes per character: 117 characters are 234 bytes, 21 + 234 = 255.
    const fits = encodeFrame(frame('é'.repeat(117)));
    expect(fits[1]).toBe(255);
    expect(fits.length).toBe(257);
    expect(headerText(fits)).toBe(prefix + 'é'.repeat(117));
    // 118 characters are under 255 characters but 257 bytes.
    failure(() => encodeFrame(frame('é'.repeat(118))), 'E_HEADER_TOO_LONG');
    // A 4-byte character is 2 UTF-16 units.
    expect(encodeFrame(frame('😀'))[1]).toBe(prefix.length + 4);
  });
});

describe('encodeFrame: E_INVALID_FIELD', () => {
  const base: FrameInit = {
    kind: 'data',
    family: 'IPv4',
    address: 'a',
    port: 1,
    service: 'https',
    serviceport: 443,
    name: 'n',
  };
  const textFields = ['family', 'address', 'service', 'name'] as const;
  const badTexts: Array<[string, string]> = [
    ['a comma', 'a,b'],
    ['a newline', 'a\nb'],
    ['a carriage return', 'a\rb'],
    ['a tab', 'a\tb'],
    ['a NUL', 'a\0b'],
    ['an escape', '\x1b[31m'],
    ['a DEL', 'a\x7f'],
    ['a lone high surrogate', 'a\ud800'],
    ['a lone low surrogate', '\udc00a'],
    ['reversed surrogates', '\ude00\ud83d'],
  ];

  for (const field of textFields) {
    it.each(badTexts)(`refuses ${field} with %s`, (_why, value) => {
      const error = failure(() => encodeFrame({ ...base, [field]: value }), 'E_INVALID_FIELD');
      expect(error.message).toContain(field);
    });
  }

  it('refuses a comma in the original service of a connection frame', () => {
    failure(() => encodeFrame({ ...base, kind: 'connection', service: 'ssh,https' }), 'E_INVALID_FIELD');
  });

  it('accepts a surrogate pair', () => {
    const [frame] = new FrameDecoder().push(encodeFrame({ ...base, name: '\ud83d\ude00.example' }));
    expect(frame!.name).toBe('😀.example');
  });

  it('refuses a text field that is not a string', () => {
    failure(() => encodeFrame({ ...base, family: 4 as unknown as string }), 'E_INVALID_FIELD');
    failure(() => encodeFrame({ ...base, name: {} as unknown as string }), 'E_INVALID_FIELD');
  });

  const badPorts: unknown[] = [-1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '443', 2 ** 53];
  for (const field of ['port', 'serviceport'] as const) {
    it.each(badPorts)(`refuses ${field} %s`, (value) => {
      const error = failure(() => encodeFrame({ ...base, [field]: value as number }), 'E_INVALID_FIELD');
      expect(error.message).toContain(field);
    });
  }

  it('refuses a bad port on every kind but control', () => {
    for (const kind of ['connection', 'end', 'error', 'pause', 'resume'] as const) {
      failure(() => encodeFrame({ ...base, kind, port: 70000 }), 'E_INVALID_FIELD');
    }
    expect(() => encodeFrame({ ...base, kind: 'control', port: 70000 })).not.toThrow();
  });
});

describe('encodeFrame: E_INVALID_FRAME', () => {
  it.each(['connection', 'end', 'error', 'pause', 'resume', 'control'])(
    'refuses a data frame with the reserved service %s',
    (service) => {
      const error = failure(() => encodeFrame({ kind: 'data', service }), 'E_INVALID_FRAME');
      expect(error.message).toContain(service);
    },
  );

  it('accepts a connection frame whose original service is a reserved word', () => {
    const [frame] = new FrameDecoder().push(encodeFrame({ kind: 'connection', service: 'end' }));
    expect([frame!.kind, frame!.service]).toEqual(['connection', 'end']);
  });

  it('refuses an unknown kind', () => {
    failure(() => encodeFrame({ kind: 'ping' as FrameKind }), 'E_INVALID_FRAME');
    failure(() => encodeFrameParts({ kind: undefined as unknown as FrameKind }), 'E_INVALID_FRAME');
  });
});

describe('encodeFrameParts', () => {
  it('returns the body as the same object, and a header that encodeFrame starts with', () => {
    const data = new Uint8Array(4096).fill(3);
    const frame: FrameInit = { kind: 'data', ...client, service: 'tcp', data };
    const parts = encodeFrameParts(frame);
    expect(parts.body).toBe(data);
    const whole = encodeFrame(frame);
    expect(Buffer.concat([parts.header, parts.body]).equals(Buffer.from(whole))).toBe(true);
    expect(parts.header.length).toBe(2 + parts.header[1]!);
  });

  it('gives an empty body when the frame has none', () => {
    const parts = encodeFrameParts({ kind: 'end', ...client });
    expect(parts.body.length).toBe(0);
    expect(headerText(parts.header)).toBe('IPv4,203.0.113.9,61686,0,end,443,a.example.com');
  });

  it('copies the body into encodeFrame output: later changes to the data do not show', () => {
    const data = Uint8Array.of(1, 2, 3);
    const bytes = encodeFrame({ kind: 'data', data });
    data[0] = 9;
    expect(bytes[bytes.length - 3]).toBe(1);
  });
});
