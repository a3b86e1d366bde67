import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { tokenFromRequest } from '../../src/auth/index.js';

const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;
const req = (authorization?: string, url?: string) => {
  const headers: IncomingHttpHeaders = authorization === undefined ? {} : { authorization };
  return url === undefined ? { headers } : { headers, url };
};

describe('tokenFromRequest: each form', () => {
  it('reads a Bearer token, any case of the scheme, spaces trimmed', () => {
    expect(tokenFromRequest(req('Bearer abc.def.ghi'))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req('bearer   abc.def.ghi  '))).toBe('abc.def.ghi');
  });

  it('reads Basic with the token as the password, as telebit sends it', () => {
    expect(tokenFromRequest(req(basic('device:abc.def.ghi')))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req(basic(':abc.def.ghi')))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req(basic('user:pa:ss')))).toBe('pa:ss'); // only the first colon splits
  });

  it('reads Basic with an empty password (or none) as the user part', () => {
    expect(tokenFromRequest(req(basic('abc.def.ghi:')))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req(basic('abc.def.ghi')))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req(basic(':')))).toBeUndefined();
  });

  it('reads the access_token query parameter, relative or absolute URL, percent-decoded', () => {
    expect(tokenFromRequest(req(undefined, '/ws?access_token=abc.def.ghi'))).toBe('abc.def.ghi');
    expect(tokenFromRequest(req(undefined, '/?x=1&access_token=a%2Bb'))).toBe('a+b');
    expect(tokenFromRequest(req(undefined, 'wss://relay.example.com/ws?access_token=t1'))).toBe('t1');
    expect(tokenFromRequest(req(undefined, '/?access_token=&access_token=t2'))).toBe('t2');
  });

  it('finds nothing when there is nothing', () => {
    expect(tokenFromRequest(req())).toBeUndefined();
    expect(tokenFromRequest(req(undefined, '/ws'))).toBeUndefined();
    expect(tokenFromRequest(req(undefined, '/ws?access_token='))).toBeUndefined();
    expect(tokenFromRequest(req(undefined, ''))).toBeUndefined();
  });
});

describe('tokenFromRequest: precedence', () => {
  it('Bearer, then Basic, then the query', () => {
    expect(tokenFromRequest(req('Bearer from-header', '/?access_token=from-query'))).toBe('from-header');
    expect(tokenFromRequest(req(basic('u:from-basic'), '/?access_token=from-query'))).toBe('from-basic');
  });

  it('passes over an Authorization header it cannot use, and falls back to the query', () => {
    for (const header of ['Digest abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic !!!not-base64!!!', basic(':'), 'garbage']) {
      expect(tokenFromRequest(req(header, '/?access_token=from-query')), header).toBe('from-query');
      expect(tokenFromRequest(req(header)), header).toBeUndefined();
    }
  });
});
