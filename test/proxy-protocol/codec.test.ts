import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeProxyHeader, encodeProxyHeader, V2_SIGNATURE, type ProxyEndpoint } from '../../src/proxy-protocol/index.js';
import { TrustedSources } from '../../src/proxy-protocol/sources.js';

const port = fc.integer({ min: 0, max: 65535 });
const v4 = fc.ipV4().map((address) => address);
const v6 = fc.ipV6();
const endpoint = (address: fc.Arbitrary<string>): fc.Arbitrary<ProxyEndpoint> => fc.record({ address, port });
const version = fc.constantFrom('v1' as const, 'v2' as const);

/** The canonical form of an IPv6 address, by Node's URL parser (not the codec's own). */
function canonical6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

describe('PROXY protocol codec', () => {
  it('decodes what it encodes, both versions, IPv4 and IPv6, with the bytes after it left alone', () => {
    fc.assert(
      fc.property(version, fc.oneof(fc.tuple(endpoint(v4), endpoint(v4)), fc.tuple(endpoint(v6), endpoint(v6))), fc.uint8Array({ maxLength: 32 }), (v, [src, dst], tail) => {
        const header = encodeProxyHeader(v, src, dst);
        const result = decodeProxyHeader(Buffer.concat([header, tail]));
        expect(result.status).toBe('done');
        if (result.status !== 'done') return;
        expect(result.length).toBe(header.length);
        expect(result.header.version).toBe(v === 'v1' ? 1 : 2);
        expect(result.header.command).toBe('proxy');
        const norm = (address: string): string => (isIPv6(address) ? canonical6(address) : address);
        expect(result.header.source).toEqual({ address: norm(src.address), port: src.port });
        expect(result.header.destination).toEqual({ address: norm(dst.address), port: dst.port });
      }),
    );
  });

  it('asks for more at every cut short of a whole header, and never throws on one', () => {
    fc.assert(
      fc.property(version, endpoint(fc.oneof(v4, v6)), endpoint(fc.oneof(v4, v6)), (v, src, dst) => {
        const header = encodeProxyHeader(v, src, dst);
        for (let cut = 1; cut < header.length; cut++) expect(decodeProxyHeader(header.subarray(0, cut)).status).toBe('need-more');
      }),
    );
  });

  it('writes IPv4 and IPv6 ends of one connection as IPv6, and a non-IP end as UNKNOWN / LOCAL', () => {
    const mixed = decodeProxyHeader(encodeProxyHeader('v1', { address: '10.0.0.1', port: 1 }, { address: '::1', port: 2 }));
    expect(mixed).toMatchObject({ header: { family: 'IPv6', source: { address: '::ffff:a00:1', port: 1 } } });
    expect(encodeProxyHeader('v1', { address: 'example', port: 1 }, { address: '::1', port: 2 }).toString()).toBe('PROXY UNKNOWN\r\n');
    expect(decodeProxyHeader(encodeProxyHeader('v2'))).toMatchObject({ status: 'done', header: { command: 'local', family: 'unspec' } });
  });

  it('refuses random bytes at once unless they start like a signature', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        try {
          const result = decodeProxyHeader(bytes);
          // Anything accepted must be a prefix of a real signature or a whole, well-formed header.
          if (result.status === 'need-more') {
            const b = Buffer.from(bytes);
            expect(b.subarray(0, 6).toString('latin1') === 'PROXY '.slice(0, Math.min(6, b.length)) || V2_SIGNATURE.subarray(0, Math.min(12, b.length)).equals(b.subarray(0, 12))).toBe(true);
          }
        } catch (error) {
          expect((error as { code?: string }).code).toMatch(/^E_PROXY_(SIGNATURE|MALFORMED|TOO_LONG)$/);
        }
      }),
    );
  });

  it('is strict: bad v1 fields, a long line, a bad v2 version, family or length', () => {
    const bad = (text: string | Buffer, code: string): void => {
      expect(() => decodeProxyHeader(typeof text === 'string' ? Buffer.from(text, 'latin1') : text), String(text)).toThrow(expect.objectContaining({ code }));
    };
    bad('GET / HTTP/1.1\r\n', 'E_PROXY_SIGNATURE');
    bad('PROXX TCP4', 'E_PROXY_SIGNATURE');
    bad('PROXY TCP4 1.2.3.4 5.6.7.8 80 08\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP4 1.2.3.256 5.6.7.8 80 81\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP4 ::1 5.6.7.8 80 81\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP6 1.2.3.4 ::1 80 81\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP4 1.2.3.4  5.6.7.8 80 81\r\n', 'E_PROXY_MALFORMED');
    bad('PROXY TCP4 1.2.3.4 5.6.7.8 80 81\rX', 'E_PROXY_MALFORMED');
    bad(`PROXY TCP4 ${'1'.repeat(120)}`, 'E_PROXY_TOO_LONG');
    const v2 = encodeProxyHeader('v2', { address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 });
    const withByte = (at: number, value: number): Buffer => {
      const copy = Buffer.from(v2);
      copy[at] = value;
      return copy;
    };
    bad(withByte(12, 0x11), 'E_PROXY_MALFORMED');
    bad(withByte(12, 0x22), 'E_PROXY_MALFORMED');
    bad(withByte(13, 0x41), 'E_PROXY_MALFORMED');
    bad(withByte(15, 4), 'E_PROXY_MALFORMED');
    bad(withByte(14, 0xff), 'E_PROXY_TOO_LONG');
  });

  it('trusts the ranges given, IPv4-mapped addresses included', () => {
    const trusted = new TrustedSources('10.0.0.0/8, 127.0.0.2,::1/128');
    expect(trusted.trusts('10.9.8.7')).toBe(true);
    expect(trusted.trusts('::ffff:10.1.1.1')).toBe(true);
    expect(trusted.trusts('127.0.0.1')).toBe(false);
    expect(trusted.trusts('127.0.0.2')).toBe(true);
    expect(trusted.trusts('::1')).toBe(true);
    expect(() => new TrustedSources('10.0.0.0/33')).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }));
    expect(() => new TrustedSources('example.com')).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }));
  });
});
