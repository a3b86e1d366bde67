import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { sniffProtocol } from '../../src/sniff/index.js';

const HELLO = new Uint8Array(readFileSync(new URL('../fixtures/sni.hello.bin', import.meta.url)));
const text = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

describe('sniffProtocol', () => {
  it('waits on an empty input', () => {
    expect(sniffProtocol(new Uint8Array(0))).toEqual({ status: 'need-more' });
  });

  it('names a TLS visitor by its SNI, and waits for a split ClientHello', () => {
    expect(sniffProtocol(HELLO)).toEqual({ status: 'tls', name: 'pokemap.hellabit.com' });
    expect(sniffProtocol(HELLO.subarray(0, 100))).toEqual({ status: 'need-more', needed: 99 });
  });

  it('names an HTTP visitor by its Host, and waits for the end of the head', () => {
    const request = 'GET /x HTTP/1.1\r\nHost: Web.Example:80\r\n\r\n';
    expect(sniffProtocol(text(request))).toEqual({ status: 'http', name: 'web.example', method: 'GET', path: '/x' });
    expect(sniffProtocol(text(request.slice(0, -1)))).toEqual({ status: 'need-more' });
  });

  it('answers unknown for other protocols and for broken TLS', () => {
    expect(sniffProtocol(text('SSH-2.0-OpenSSH_9.6\r\n'))).toEqual({ status: 'unknown' });
    expect(sniffProtocol(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x00]))).toEqual({ status: 'unknown' });
    expect(sniffProtocol(new Uint8Array([0x00]))).toEqual({ status: 'unknown' });
  });

  it('says which protocol was too large', () => {
    expect(sniffProtocol(HELLO, { maxBytes: HELLO.length - 1 })).toEqual({ status: 'too-large', protocol: 'tls' });
    expect(sniffProtocol(text('GET / HTTP/1.1\r\nX: yyyyyyyy'), { maxBytes: 20 })).toEqual({
      status: 'too-large',
      protocol: 'http',
    });
  });

  it('refuses a bad cap even before the first byte', () => {
    expect(() => sniffProtocol(new Uint8Array(0), { maxBytes: -5 })).toThrow(InvalidOptionError);
  });
});
