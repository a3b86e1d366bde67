import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { readHttpHost } from '../../src/sniff/index.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));
const read = (text: string, maxBytes?: number) => readHttpHost(bytes(text), maxBytes === undefined ? undefined : { maxBytes });
const head = (...lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

describe('readHttpHost: requests', () => {
  it('reads method, path and the Host lowercased without its port', () => {
    expect(read(head('GET /a/b?c=d HTTP/1.1', 'User-Agent: x', 'Host: Device.Example.COM:8080', 'Accept: */*'))).toEqual({
      status: 'http',
      host: 'device.example.com',
      method: 'GET',
      path: '/a/b?c=d',
    });
  });

  it('answers need-more at every cut point until the blank line ends the head', () => {
    const request = head('POST /upload HTTP/1.1', 'host: example.com', 'Content-Length: 5') + 'hello';
    const headLength = request.indexOf('\r\n\r\n') + 4;
    for (let cut = 0; cut < headLength; cut++) {
      expect(read(request.slice(0, cut)), `cut ${cut}`).toEqual({ status: 'need-more' });
    }
    for (const cut of [headLength, request.length]) {
      expect(read(request.slice(0, cut))).toEqual({ status: 'http', host: 'example.com', method: 'POST', path: '/upload' });
    }
  });

  it('trims whitespace around the value and accepts any case of the header name', () => {
    expect(read(head('GET / HTTP/1.0', 'HOST: \t a.example \t'))).toMatchObject({ host: 'a.example' });
    expect(read(head('OPTIONS * HTTP/1.1', 'hOsT:b.example'))).toMatchObject({ host: 'b.example', path: '*' });
  });

  it('keeps IPv6 literals in brackets and drops a trailing dot and an empty port', () => {
    expect(read(head('GET / HTTP/1.1', 'Host: [::1]:8080'))).toMatchObject({ host: '[::1]' });
    expect(read(head('GET / HTTP/1.1', 'Host: [2001:DB8::1]'))).toMatchObject({ host: '[2001:db8::1]' });
    expect(read(head('GET / HTTP/1.1', 'Host: example.com.'))).toMatchObject({ host: 'example.com' });
    expect(read(head('GET / HTTP/1.1', 'Host: example.com:'))).toMatchObject({ host: 'example.com' });
    expect(read(head('GET / HTTP/1.1', 'Host: 10.0.0.7:80'))).toMatchObject({ host: '10.0.0.7' });
  });

  it('gives host undefined when there is none or it is not a host name', () => {
    expect(read(head('GET / HTTP/1.0'))).toEqual({ status: 'http', host: undefined, method: 'GET', path: '/' });
    for (const value of ['', 'exa mple.com', 'a,b.com', 'a.com:http', 'a.com:1234567', '[::1', '[zz]', '[]', 'é.com', '_:1']) {
      expect(read(head('GET / HTTP/1.1', `Host: ${value}`)), JSON.stringify(value)).toMatchObject({
        status: 'http',
        host: value === '_:1' ? '_' : undefined,
      });
    }
  });

  it('answers for a head followed by other bytes, and for a request in absolute form', () => {
    expect(read(head('GET http://x.example/ HTTP/1.1', 'Host: x.example') + '\x00\x01garbage')).toEqual({
      status: 'http',
      host: 'x.example',
      method: 'GET',
      path: 'http://x.example/',
    });
  });
});

describe('readHttpHost: what is not an HTTP/1.x request', () => {
  const notHttp: Array<[string, string]> = [
    ['a TLS record', '\x16\x03\x01\x00\xc2'],
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n'],
    ['an HTTP response', 'HTTP/1.1 200 OK\r\n'],
    ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a leading space', ' GET / HTTP/1.1\r\n'],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\n'],
    ['a control character in the path', 'GET /\x01 HTTP/1.1\r\n'],
    ['a bare LF after the request line', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['a bare LF after a header', 'GET / HTTP/1.1\r\nHost: a\n\r\n'],
    ['a CR not followed by LF', 'GET / HTTP/1.1\r\rHost: a\r\n\r\n'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nX: a\r\n b\r\nHost: a\r\n\r\n'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['a header without a colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n'],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n'],
    ['a method longer than 32 characters', `${'A'.repeat(33)} / HTTP/1.1\r\n`],
    ['a version other than 1.x', 'GET / HTTP/3.0\r\n'],
  ];
  it.each(notHttp)('refuses %s', (_, text) => {
    expect(read(text)).toEqual({ status: 'not-http' });
  });

  it('decides on the first byte that cannot start a request', () => {
    expect(read('\x16')).toEqual({ status: 'not-http' });
    expect(read('G')).toEqual({ status: 'need-more' });
    expect(read('GET /x HTTP/1.')).toEqual({ status: 'need-more' });
    expect(read('GET /x HTTP/2')).toEqual({ status: 'not-http' });
  });

  it('never throws on any bytes', () => {
    const statuses = ['need-more', 'http', 'not-http', 'too-large'];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 400 }), (garbage, maxBytes) => {
        const plain = readHttpHost(garbage);
        const prefixed = readHttpHost(new Uint8Array([...bytes('GET / HTTP/1.1\r\nHost: '), ...garbage]), { maxBytes });
        return statuses.includes(plain.status) && statuses.includes(prefixed.status);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('readHttpHost: the size cap', () => {
  it('answers too-large once 16 KiB have come without the end of the head', () => {
    const endless = `GET / HTTP/1.1\r\nHost: a.example\r\nX-Filler: ${'a'.repeat(20_000)}`;
    expect(read(endless.slice(0, 16 * 1024 - 1))).toEqual({ status: 'need-more' });
    expect(read(endless.slice(0, 16 * 1024))).toEqual({ status: 'too-large' });
    expect(read(`${endless}\r\n\r\n`)).toEqual({ status: 'too-large' });
  });

  it('accepts a head that ends exactly at maxBytes, and not one byte later', () => {
    const request = head('GET / HTTP/1.1', 'Host: a.example');
    expect(read(request, request.length)).toMatchObject({ status: 'http', host: 'a.example' });
    expect(read(request, request.length - 1)).toEqual({ status: 'too-large' });
  });

  it('does not look past the cap, so the answer does not depend on chunking', () => {
    // Invalid bytes after the cap: a caller that got the first maxBytes alone saw too-large.
    const text = `GET / HTTP/1.1\r\nX: ${'a'.repeat(100)}\x00\r\n\r\n`;
    expect(read(text.slice(0, 50), 50)).toEqual({ status: 'too-large' });
    expect(read(text, 50)).toEqual({ status: 'too-large' });
  });

  it('throws InvalidOptionError for a cap that is not a positive integer', () => {
    expect(() => read('GET', 0)).toThrow(InvalidOptionError);
    expect(() => readHttpHost(bytes('GET'), { maxBytes: 2.5 })).toThrow(InvalidOptionError);
  });
});
