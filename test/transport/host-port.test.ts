import { describe, expect, it } from 'vitest';
import { joinHostPort, splitHostPort } from '../../src/transport/host-port.js';

describe('splitHostPort', () => {
  it.each([
    ['127.0.0.1:8080', '127.0.0.1', '8080'],
    ['localhost:1', 'localhost', '1'],
    ['example.com:65535', 'example.com', '65535'],
    ['0.0.0.0:0', '0.0.0.0', '0'],
    ['[::1]:80', '::1', '80'],
    ['[::]:0', '::', '0'],
    ['[fe80::1%eth0]:443', 'fe80::1%eth0', '443'],
    [':80', '', '80'],
    ['3000', undefined, '3000'],
    ['0', undefined, '0'],
  ])('splits %j', (text, host, port) => {
    expect(splitHostPort(text)).toEqual({ host, port });
  });

  it('leaves the port range to the caller: any run of digits is kept as written', () => {
    expect(splitHostPort('h:65536')).toEqual({ host: 'h', port: '65536' });
    expect(splitHostPort('h:0080')).toEqual({ host: 'h', port: '0080' });
    expect(splitHostPort('99999999')).toEqual({ host: undefined, port: '99999999' });
  });

  it.each([
    ['no port', ['localhost', '127.0.0.1', '[::1]', 'h:', '[::1]:', '']],
    ['a port that is not decimal digits', ['h:http', 'h:-1', 'h:+80', 'h:8.0', 'h: 80', ' 80', '80 ', '[::1]:x']],
    ['IPv6 without brackets', ['::1:80', '::1', 'fe80::1:443']],
    ['more than one colon', ['a:b:80', 'h:80:81']],
    ['empty brackets', ['[]']],
  ])('refuses %s', (_why, texts) => {
    for (const text of texts) expect(splitHostPort(text), text).toBeUndefined();
  });
});

describe('joinHostPort', () => {
  it.each([
    ['127.0.0.1', 8080, '127.0.0.1:8080'],
    ['localhost', 80, 'localhost:80'],
    ['::1', 443, '[::1]:443'],
    ['fe80::1%lo', '22', '[fe80::1%lo]:22'],
    ['', 0, ':0'],
  ])('writes %j and %j as %j, which splitHostPort takes apart again', (host, port, text) => {
    expect(joinHostPort(host, port)).toBe(text);
    expect(splitHostPort(text)).toEqual({ host, port: String(port) });
  });
});
