import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseForward } from '../../src/device/forwards.js';
import { createDevice } from '../../src/index.js';
import { defaultCertDir, parseOwnCertificate, renewalTime, retryDelay } from '../../src/tls/index.js';
import { retryAfter } from '../../src/tls/acme-http.js';

const TOKEN = 'x.y.z';

describe('forwards that terminate TLS', () => {
  it('reads https:NAME=http://HOST:PORT and https:NAME=tcp://HOST:PORT; a bare target stays passthrough', () => {
    expect(parseForward('https:app.example.com=http://127.0.0.1:3000')).toEqual({
      service: 'https',
      name: 'app.example.com',
      target: { host: '127.0.0.1', port: 3000 },
      terminate: 'http',
    });
    expect(parseForward('https:app.example.com=tcp://[::1]:22/')).toMatchObject({ terminate: 'tcp', target: { host: '::1', port: 22 } });
    expect(parseForward('https:app.example.com=127.0.0.1:3443')).not.toHaveProperty('terminate');
  });

  it.each([
    ['http:app.example.com=http://127.0.0.1:3000', /only https forwards take a target scheme/],
    ['https:app.example.com=ftp://127.0.0.1:21', /ftp:\/\/ is not a target scheme \(http:\/\/ or tcp:\/\/\)/],
    ['tcp:5050=tcp://127.0.0.1:22', /only https forwards take a target scheme/],
    ['https:app.example.com=http://127.0.0.1', /target must be host:port/],
  ])('refuses %j', (spec, message) => {
    expect(() => parseForward(spec)).toThrow(message);
  });
});

describe('certificate options of a device', () => {
  const relay = 'ws://127.0.0.1:1';
  const acme = (certDir: string) => ({ email: 'me@example.com', directory: 'https://127.0.0.1:1/dir', certDir });

  it('refuses a cert dir that cannot be written, at start: E_INVALID_OPTION', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mproxy-certdir-')), 'a-file');
    writeFileSync(file, '');
    expect(() =>
      createDevice({ relay, token: TOKEN, forwards: ['https:app.example.com=http://127.0.0.1:3000'], tls: { acme: acme(join(file, 'certs')) }, reconnect: false }),
    ).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/cert dir .* cannot be written/) }));
  });

  it('refuses a wildcard name for ACME (it needs dns-01): E_ACME_WILDCARD', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mproxy-certdir-'));
    expect(() => createDevice({ relay, token: TOKEN, forwards: ['https:*.example.com=http://127.0.0.1:3000'], tls: { acme: acme(dir) }, reconnect: false })).toThrow(
      expect.objectContaining({ code: 'E_ACME_WILDCARD', message: expect.stringMatching(/dns-01/) }),
    );
  });

  it('refuses a terminated name with neither ACME nor a certificate, naming both ways', () => {
    expect(() => createDevice({ relay, token: TOKEN, forwards: ['https:app.example.com=http://127.0.0.1:3000'], reconnect: false })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/--acme-email.*--cert/) }),
    );
  });

  it('refuses a bad email and a directory that is not https', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mproxy-certdir-'));
    const forwards = ['https:app.example.com=http://127.0.0.1:3000'];
    expect(() => createDevice({ relay, token: TOKEN, forwards, tls: { acme: { ...acme(dir), email: 'nobody' } } })).toThrow(/not an email address/);
    expect(() => createDevice({ relay, token: TOKEN, forwards, tls: { acme: { ...acme(dir), directory: 'http://127.0.0.1/dir' } } })).toThrow(/must be https/);
  });

  it('reads --cert NAME=CERT.pem,KEY.pem and refuses other shapes', () => {
    expect(parseOwnCertificate('*.example.com=/a/cert.pem,/a/key.pem')).toEqual({ name: '*.example.com', certFile: '/a/cert.pem', keyFile: '/a/key.pem' });
    expect(() => parseOwnCertificate('example.com=/a/cert.pem')).toThrow(/NAME=CERT.pem,KEY.pem/);
    expect(() => parseOwnCertificate('exa mple=/a,/b')).toThrow(/not a host name/);
  });
});

describe('renewal and retry timing', () => {
  const day = 24 * 3600 * 1000;
  const validity = { notBefore: new Date(0), notAfter: new Date(90 * day) };

  it('renews when a third of the lifetime is left, or within a forced window', () => {
    expect(renewalTime(validity).getTime()).toBe(60 * day);
    expect(renewalTime(validity, { renewBefore: 10 * day }).getTime()).toBe(80 * day);
  });

  it('doubles the wait after each failure up to the maximum, and never comes back before the CA said', () => {
    const timing = { retryInitialDelay: 1000, retryMaxDelay: 5000 };
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelay(attempt, timing))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(retryDelay(1, timing, new Date(1_000_000 + 60_000), 1_000_000)).toBe(60_000);
    expect(retryDelay(1)).toBe(60_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfter('120', 1_000)?.getTime()).toBe(121_000);
    expect(retryAfter('Wed, 21 Oct 2026 07:28:00 GMT')?.toISOString()).toBe('2026-10-21T07:28:00.000Z');
    expect(retryAfter(undefined)).toBeUndefined();
    expect(retryAfter('soon')).toBeUndefined();
  });

  it('keeps certificates under the user config dir by default', () => {
    expect(defaultCertDir({ XDG_CONFIG_HOME: '/home/u/.config' }, 'linux')).toBe('/home/u/.config/mproxy/certs');
    expect(defaultCertDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32')).toMatch(/mproxy.certs$/);
  });
});
