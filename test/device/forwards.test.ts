import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/codec/errors.js';
import { checkForwards, findForward, parseForward } from '../../src/device/forwards.js';

describe('parseForward targets', () => {
  it.each([
    ['tcp:5050=127.0.0.1:22', { host: '127.0.0.1', port: 22 }],
    ['udp:5353=[::1]:53', { host: '::1', port: 53 }],
    ['https:app.localhost=localhost:65535', { host: 'localhost', port: 65535 }],
    ['http:app.localhost=3000', { host: '127.0.0.1', port: 3000 }],
    ['http:app.localhost=1', { host: '127.0.0.1', port: 1 }],
    ['http:app.localhost=0080', { host: '127.0.0.1', port: 80 }],
    ['tcp:5050= 127.0.0.1:22 ', { host: '127.0.0.1', port: 22 }],
  ])('reads the target of %j', (spec, target) => {
    expect(parseForward(spec).target).toEqual(target);
  });

  it('reads the public port of tcp and udp forwards', () => {
    expect(parseForward('tcp:5050=22')).toEqual({ service: 'tcp', port: 5050, target: { host: '127.0.0.1', port: 22 } });
  });

  it.each([
    ['http:a.localhost=0', /"0" is not a port 1-65535/],
    ['http:a.localhost=127.0.0.1:0', /"0" is not a port 1-65535/],
    ['http:a.localhost=127.0.0.1:65536', /"65536" is not a port 1-65535/],
    ['http:a.localhost=[::1]:99999999', /"99999999" is not a port 1-65535/],
    ['tcp:0=127.0.0.1:22', /"0" is not a port 1-65535/],
    ['tcp:x=127.0.0.1:22', /"x" is not a port 1-65535/],
    ['http:a.localhost=127.0.0.1:http', /target must be host:port/],
    ['http:a.localhost=127.0.0.1', /target must be host:port/],
    ['http:a.localhost=127.0.0.1:', /target must be host:port/],
    ['http:a.localhost=:80', /target must be host:port/],
    ['http:a.localhost=::1:80', /target must be host:port/],
    ['http:a.localhost=[::1]', /target must be host:port/],
    ['http:a.localhost=[::1]:-1', /target must be host:port/],
    ['http:a.localhost=', /target must be host:port/],
  ])('refuses %j with E_INVALID_OPTION', (spec, message) => {
    expect(() => parseForward(spec)).toThrow(InvalidOptionError);
    expect(() => parseForward(spec)).toThrow(message);
  });
});

describe('parseForward names', () => {
  it.each([
    ['https:App.Example.COM=3000', 'app.example.com'],
    ['https:*.example.com=3000', '*.example.com'],
    ['http:localhost=3000', 'localhost'],
    ['http:app.example.com.=3000', 'app.example.com'],
  ])('reads %j as %j', (spec, name) => {
    expect(parseForward(spec).name).toBe(name);
  });

  it.each([
    'https:*=3000',
    'https:a.*.example.com=3000',
    'https:-a.example.com=3000',
    'https:a..example.com=3000',
    `https:${'a'.repeat(64)}.com=3000`,
    'https:ex ample.com=3000',
  ])('refuses %j', (spec) => {
    expect(() => parseForward(spec)).toThrow(/is not a host name/);
  });
});

describe('findForward', () => {
  const forwards = [
    'https:*.example.com=1',
    'https:*.a.example.com=2',
    'https:b.a.example.com=3',
    'http:*.example.com=4',
    'tcp:5050=5',
  ].map(parseForward);
  const target = (service: string, name: string, serviceport: number | null = null): number | undefined =>
    findForward(forwards, { service, name, serviceport })?.target.port;

  it('prefers an exact name, then the longest wildcard', () => {
    expect(target('https', 'b.a.example.com')).toBe(3);
    expect(target('https', 'c.a.example.com')).toBe(2);
    expect(target('https', 'x.y.example.com')).toBe(1);
    expect(target('https', 'B.A.Example.Com')).toBe(3);
  });

  it('never lets a wildcard match its own suffix', () => {
    expect(target('https', 'example.com')).toBeUndefined();
  });

  it('keeps services apart, and finds tcp by port', () => {
    expect(target('http', 'x.example.com')).toBe(4);
    expect(target('tcp', '', 5050)).toBe(5);
    expect(target('tcp', '', 5051)).toBeUndefined();
    expect(target('tls', 'c.a.example.com')).toBe(2);
  });
});

describe('parseForward proxy=', () => {
  it('reads ,proxy=v1 and ,proxy=v2 after the target', () => {
    expect(parseForward('tcp:5050=127.0.0.1:22,proxy=v2')).toEqual({ service: 'tcp', port: 5050, target: { host: '127.0.0.1', port: 22 }, proxy: 'v2' });
    expect(parseForward('https:app.localhost=127.0.0.1:8443,proxy=v1')).toEqual({ service: 'https', name: 'app.localhost', target: { host: '127.0.0.1', port: 8443 }, proxy: 'v1' });
  });

  it.each(['tcp:5050=127.0.0.1:22,proxy=v3', 'udp:53=127.0.0.1:53,proxy=v1', 'https:app.localhost=http://127.0.0.1:80,proxy=v1', 'tcp:5050=127.0.0.1:22,proxy='])(
    'refuses %j',
    (spec) => {
      expect(() => parseForward(spec)).toThrow(InvalidOptionError);
    },
  );
});

describe('checkForwards', () => {
  const parsed = (...specs: string[]) => specs.map(parseForward);

  it('accepts one forward per name and service, and per port and service', () => {
    expect(() =>
      checkForwards(parsed('https:app.localhost=3000', 'http:app.localhost=3001', 'https:*.app.localhost=3002', 'tcp:5050=22', 'udp:5050=53')),
    ).not.toThrow();
  });

  it.each([
    [['http:other.localhost=13000', 'http:Other.Localhost=13002'], /forwards http:other\.localhost=127\.0\.0\.1:13000 and http:other\.localhost=127\.0\.0\.1:13002 are for the same name/],
    [['https:app.localhost=3000', 'https:app.localhost=http://127.0.0.1:3001'], /are for the same name/],
    [['tcp:5050=22', 'tcp:5050=[::1]:2222'], /forwards tcp:5050=127\.0\.0\.1:22 and tcp:5050=\[::1\]:2222 are for the same port/],
  ])('refuses %j with E_INVALID_OPTION', (specs, message) => {
    const check = () => checkForwards(parsed(...specs));
    expect(check).toThrow(InvalidOptionError);
    expect(check).toThrow(message);
  });
});
