import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { readClientHello, type ClientHelloResult } from '../../src/sniff/index.js';

const FIXTURE = new Uint8Array(readFileSync(new URL('../fixtures/sni.hello.bin', import.meta.url)));

/**
 * Where a ClientHello ends in a capture, by the plainest reading of the record layer: gather
 * record payloads until the handshake message's announced length is there. Independent of the
 * code under test, so that captures do not depend on it.
 */
function helloEnd(bytes: Uint8Array): { end: number; records: number } | undefined {
  let pos = 0;
  let payload: number[] = [];
  let records = 0;
  while (pos + 5 <= bytes.length) {
    const size = (bytes[pos + 3]! << 8) | bytes[pos + 4]!;
    const end = Math.min(pos + 5 + size, bytes.length);
    payload = payload.concat([...bytes.subarray(pos + 5, end)]);
    records++;
    if (payload.length >= 4) {
      const total = 4 + ((payload[1]! << 16) | (payload[2]! << 8) | payload[3]!);
      if (payload.length >= total) return { end: end - (payload.length - total), records };
    }
    pos += 5 + size;
  }
  return undefined;
}

/** The ClientHello node:tls sends for `options`, captured by a plain TCP server. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const captured = new Promise<Buffer>((resolve, reject) => {
    server.once('connection', (socket) => {
      let all = Buffer.alloc(0);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        all = Buffer.concat([all, chunk]);
        const found = helloEnd(all);
        if (found) {
          resolve(all.subarray(0, found.end));
          socket.destroy();
        }
      });
      socket.on('close', () => reject(new Error(`connection closed after ${all.length} bytes, before a whole hello`)));
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port, ...options });
  client.on('error', () => {});
  try {
    return await captured;
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Re-frames a single-record hello's handshake message into records cut at `cuts`. */
function reframe(hello: Uint8Array, cuts: number[]): Uint8Array {
  const handshake = hello.subarray(5);
  const bounds = [0, ...cuts, handshake.length];
  const out: number[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const part = handshake.subarray(bounds[i], bounds[i + 1]);
    out.push(0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff, ...part);
  }
  return new Uint8Array(out);
}

const u16 = (n: number) => [n >> 8, n & 0xff];

/** A minimal ClientHello (TLS 1.2 layout) with the given extensions, in one record. */
function buildHello(extensions: number[][] | undefined, recordVersion = [3, 1]): Uint8Array {
  const body = [3, 3, ...new Array<number>(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0];
  if (extensions) {
    const ext = extensions.flat();
    body.push(...u16(ext.length), ...ext);
  }
  const handshake = [1, 0, ...u16(body.length), ...body];
  return new Uint8Array([0x16, ...recordVersion, ...u16(handshake.length), ...handshake]);
}

function extension(type: number, data: number[]): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

/** A server_name extension listing `names` as `[name_type, name]`. */
function sni(...names: Array<[number, string]>): number[] {
  const list = names.flatMap(([type, name]) => [type, ...u16(name.length), ...Buffer.from(name, 'latin1')]);
  return extension(0, [...u16(list.length), ...list]);
}

/** Every proper prefix is `need-more`, with a `needed` that never overshoots the real end. */
function expectNeedMoreUntilComplete(hello: Uint8Array, maxBytes = Math.max(hello.length, 1)): void {
  for (let cut = 0; cut < hello.length; cut++) {
    const result = readClientHello(hello.subarray(0, cut), { maxBytes });
    if (result.status !== 'need-more') expect.fail(`cut ${cut}: ${result.status}, expected need-more`);
    const needed = result.needed ?? 1;
    if (needed < 1 || cut + needed > hello.length) {
      expect.fail(`cut ${cut}: needed ${needed} but the hello ends at ${hello.length}`);
    }
  }
}

describe('readClientHello: the captured hello of the reference', () => {
  it('reads the SNI of the README capture', () => {
    expect(readClientHello(FIXTURE)).toEqual({ status: 'tls', serverName: 'pokemap.hellabit.com' });
  });

  it('ignores bytes after the hello (the client may pipeline more records)', () => {
    const more = new Uint8Array([...FIXTURE, 0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
    expect(readClientHello(more)).toEqual({ status: 'tls', serverName: 'pokemap.hellabit.com' });
  });

  it('answers need-more at every cut point, with a needed that is a true lower bound', () => {
    expectNeedMoreUntilComplete(FIXTURE);
    expect(readClientHello(FIXTURE.subarray(0, 1))).toEqual({ status: 'need-more', needed: 4 + 4 + 41 });
    expect(readClientHello(FIXTURE.subarray(0, 9))).toEqual({ status: 'need-more', needed: 199 - 9 });
  });

  it('reassembles the hello re-framed into two records, for every split of the message', () => {
    const handshakeLength = FIXTURE.length - 5;
    for (let split = 1; split < handshakeLength; split++) {
      const twoRecords = reframe(FIXTURE, [split]);
      expect(twoRecords.length).toBe(FIXTURE.length + 5);
      expect(readClientHello(twoRecords), `split ${split}`).toEqual({ status: 'tls', serverName: 'pokemap.hellabit.com' });
    }
  });

  it('answers need-more at every cut of the two-record and a four-record hello', () => {
    for (const cuts of [[2], [60], [150], [1, 2, 3]]) {
      const framed = reframe(FIXTURE, cuts);
      expectNeedMoreUntilComplete(framed);
      expect(readClientHello(framed)).toEqual({ status: 'tls', serverName: 'pokemap.hellabit.com' });
    }
  });

  it('answers tls once the last byte of the message arrives, even mid-record', () => {
    // A record longer than the message: the rest belongs to a later handshake message.
    const handshake = [...FIXTURE.subarray(5), 0x0b, 0, 0, 0];
    const record = new Uint8Array([0x16, 3, 1, ...u16(handshake.length), ...handshake]);
    expect(readClientHello(record.subarray(0, FIXTURE.length))).toEqual({
      status: 'tls',
      serverName: 'pokemap.hellabit.com',
    });
  });
});

describe('readClientHello: hellos sent by node:tls', () => {
  let named: Buffer;
  let unnamed: Buffer;
  let large: Buffer;
  let acme: Buffer;
  const largeAlpn = Array.from({ length: 90 }, (_, i) => `proto-${i}-${'x'.repeat(200)}`);
  const longName = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');

  beforeAll(async () => {
    named = await captureHello({ servername: 'Device.Example.COM' });
    // Node sends no SNI when connecting to an IP address without a servername.
    unnamed = await captureHello({});
    large = await captureHello({ servername: longName, ALPNProtocols: largeAlpn });
    acme = await captureHello({ servername: 'app.example.com', ALPNProtocols: ['acme-tls/1'] });
  });

  it('reads a lowercased SNI', () => {
    expect(readClientHello(named)).toEqual({ status: 'tls', serverName: 'device.example.com' });
    expectNeedMoreUntilComplete(named);
  });

  it("reads the ALPN protocols (an ACME tls-alpn-01 validation's acme-tls/1)", () => {
    expect(readClientHello(acme)).toEqual({ status: 'tls', serverName: 'app.example.com', alpn: ['acme-tls/1'] });
    expect(readClientHello(named)).not.toHaveProperty('alpn');
  });

  it('answers tls without a name when the hello has no server_name', () => {
    expect(readClientHello(unnamed)).toEqual({ status: 'tls', serverName: undefined });
  });

  it('reads a 253-character name from a hello larger than one record', () => {
    expect(longName).toHaveLength(253);
    expect(large.length).toBeGreaterThan(16 * 1024 + 5);
    // OpenSSL cannot put more than 2^14 bytes in a record: the message spans records.
    expect(helloEnd(large)!.records).toBeGreaterThanOrEqual(2);
    expect(readClientHello(large, { maxBytes: large.length })).toEqual({ status: 'tls', serverName: longName, alpn: largeAlpn });
    expectNeedMoreUntilComplete(large);
  });

  it('answers too-large under the default 16 KiB cap as soon as the message length is known', () => {
    expect(readClientHello(large.subarray(0, 8))).toMatchObject({ status: 'need-more' });
    for (const cut of [9, 100, 16 * 1024, 16 * 1024 + 1, large.length]) {
      expect(readClientHello(large.subarray(0, cut)), `cut ${cut}`).toEqual({ status: 'too-large' });
    }
    expect(readClientHello(large, { maxBytes: large.length - 1 })).toEqual({ status: 'too-large' });
  });
});

describe('readClientHello: what is not a ClientHello', () => {
  const cases: Array<[string, number[]]> = [
    ['an HTTP request', [...Buffer.from('GET / HTTP/1.1\r\n')]],
    ['an SSH banner', [...Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')]],
    ['a record version other than 3.x', [0x16, 0x02]],
    ['a record version above TLS 1.3', [0x16, 0x03, 0x05]],
    ['an empty record', [0x16, 0x03, 0x01, 0x00, 0x00]],
    ['a record over 2^14 bytes', [0x16, 0x03, 0x01, 0x40, 0x01]],
    ['a ServerHello', [0x16, 0x03, 0x03, 0x00, 0x30, 0x02]],
    ['a handshake too short for a ClientHello', [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x28]],
    ['an application-data record', [0x17, 0x03, 0x03, 0x00, 0x10]],
    ['an SSLv2-style hello', [0x80, 0x2e, 0x01, 0x03, 0x01]],
  ];
  it.each(cases)('refuses %s on its first bytes', (_, bytes) => {
    expect(readClientHello(new Uint8Array(bytes))).toEqual({ status: 'not-tls' });
  });

  it('refuses a second record that is not a handshake record', () => {
    const framed = reframe(FIXTURE, [50]);
    framed[5 + 50] = 0x17;
    expect(readClientHello(framed)).toEqual({ status: 'not-tls' });
  });

  it('refuses a hello whose extension lengths do not add up', () => {
    const bad = Uint8Array.from(FIXTURE);
    // The extensions length of the capture is at offset 0x86 (0x003f); make it overrun.
    expect([bad[0x86], bad[0x87]]).toEqual([0x00, 0x3f]);
    bad[0x87] = 0x40;
    expect(readClientHello(bad)).toEqual({ status: 'not-tls' });
    bad[0x87] = 0x3e;
    expect(readClientHello(bad)).toEqual({ status: 'not-tls' });
  });

  it('refuses two server_name extensions and two host names in one', () => {
    expect(readClientHello(buildHello([sni([0, 'a.example']), sni([0, 'b.example'])]))).toEqual({ status: 'not-tls' });
    expect(readClientHello(buildHello([sni([0, 'a.example'], [0, 'b.example'])]))).toEqual({ status: 'not-tls' });
    expect(readClientHello(buildHello([extension(0, [])]))).toEqual({ status: 'not-tls' });
  });

  it('answers tls without a name when the name is not a host name', () => {
    for (const name of ['exa mple.com', 'a,b.com', 'example.com.', '-a.com', 'a..com', '::1', 'x'.repeat(64) + '.com', '']) {
      expect(readClientHello(buildHello([sni([0, name])])), JSON.stringify(name)).toEqual({
        status: 'tls',
        serverName: undefined,
      });
    }
  });

  it('takes the host_name among names of other types, and hellos without extensions', () => {
    expect(readClientHello(buildHello([extension(0xff01, [0]), sni([7, 'zzz'], [0, 'My_Host.Example'])]))).toEqual({
      status: 'tls',
      serverName: 'my_host.example',
    });
    expect(readClientHello(buildHello(undefined))).toEqual({ status: 'tls', serverName: undefined });
    expect(readClientHello(buildHello([sni([0, 'ssl3.example'])], [3, 0]))).toMatchObject({ serverName: 'ssl3.example' });
  });

  it('never throws, and answers one of the four statuses, on any bytes', () => {
    const statuses = ['need-more', 'tls', 'not-tls', 'too-large'];
    const check = (bytes: Uint8Array, maxBytes?: number) => {
      const result: ClientHelloResult = readClientHello(bytes, maxBytes ? { maxBytes } : undefined);
      return statuses.includes(result.status);
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(bytes)), { numRuns: 2000 });
    const tlsPrefix = fc.uint8Array({ maxLength: 300 }).map((rest) => new Uint8Array([0x16, 0x03, 0x01, ...rest]));
    fc.assert(fc.property(tlsPrefix, fc.integer({ min: 1, max: 400 }), check), { numRuns: 2000 });
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: FIXTURE.length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 })
      .map((edits) => {
        const copy = Uint8Array.from(FIXTURE);
        for (const [at, value] of edits) copy[at] = value;
        return copy;
      });
    fc.assert(fc.property(mutated, (bytes) => check(bytes)), { numRuns: 3000 });
  });

  it('throws InvalidOptionError for a cap that is not a positive integer', () => {
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => readClientHello(FIXTURE, { maxBytes })).toThrow(InvalidOptionError);
    }
  });
});
