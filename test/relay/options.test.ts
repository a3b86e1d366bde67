import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { parseListen } from '../../src/relay/options.js';

const fallback = Object.freeze({ host: '127.0.0.1', port: 8443 });

describe('parseListen', () => {
  it.each([
    ['0.0.0.0:443', { host: '0.0.0.0', port: 443 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:65535', { host: '::', port: 65535 }],
    ['9000', { host: '127.0.0.1', port: 9000 }],
    ['0', { host: '127.0.0.1', port: 0 }],
    [':80', { host: '127.0.0.1', port: 80 }],
    ['example.com:0080', { host: 'example.com', port: 80 }],
  ])('reads %j', (text, address) => {
    expect(parseListen(text, fallback, 'listen')).toEqual(address);
  });

  it('takes an address object as is, and the fallback when there is none', () => {
    expect(parseListen({ host: '::1', port: 0 }, fallback, 'listen')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(undefined, fallback, 'listen')).toBe(fallback);
  });

  it.each([
    ['127.0.0.1:65536', /tunnel port 65536 is not 0-65535/],
    ['99999', /tunnel port 99999 is not 0-65535/],
    ['[::1]:70000', /tunnel port 70000 is not 0-65535/],
    ['127.0.0.1:http', /tunnel "127.0.0.1:http" must be host:port/],
    ['127.0.0.1', /tunnel "127.0.0.1" must be host:port/],
    ['127.0.0.1:', /tunnel "127.0.0.1:" must be host:port/],
    ['::1:80', /tunnel "::1:80" must be host:port/],
    ['[::1]', /tunnel "\[::1\]" must be host:port/],
    ['', /tunnel "" must be host:port/],
  ])('refuses %j with E_INVALID_OPTION naming the option', (text, message) => {
    expect(() => parseListen(text, fallback, 'tunnel')).toThrow(InvalidOptionError);
    expect(() => parseListen(text, fallback, 'tunnel')).toThrow(message);
  });

  it.each([{ host: 'h', port: -1 }, { host: 'h', port: 1.5 }, { host: 'h', port: 65536 }])('refuses the address object %j', (address) => {
    expect(() => parseListen(address, fallback, 'listen')).toThrow(/listen port .* is not 0-65535/);
  });
});
