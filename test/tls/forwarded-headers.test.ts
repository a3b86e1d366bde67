import { describe, expect, it } from 'vitest';
import { forwardedHeaders } from '../../src/tls/index.js';

describe('the headers a terminated request goes to the app with', () => {
  it("replaces the visitor's own X-Forwarded-* and Forwarded, and drops hop-by-hop headers", () => {
    const headers = forwardedHeaders(
      {
        host: 'app.example.com',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'http',
        forwarded: 'for=6.6.6.6',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        accept: 'text/html',
        ':path': '/h2-pseudo',
      },
      { family: 'IPv4', address: '203.0.113.7', port: 50000 },
      'app.example.com',
    );
    expect(headers).toEqual({
      host: 'app.example.com',
      accept: 'text/html',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'app.example.com',
      'x-forwarded-for': '203.0.113.7',
      forwarded: 'for=203.0.113.7;proto=https;host="app.example.com"',
    });
  });

  it('quotes an IPv6 visitor in Forwarded (RFC 7239)', () => {
    const headers = forwardedHeaders({}, { family: 'IPv6', address: '2001:db8::1', port: 1 }, 'app.example.com');
    expect(headers['x-forwarded-for']).toBe('2001:db8::1');
    expect(headers.forwarded).toBe('for="[2001:db8::1]";proto=https;host="app.example.com"');
  });
});
