import { describe, expect, it } from 'vitest';
import { bracketHint } from '../src/address-hint.js';

describe('bracketHint', () => {
  it('hints at brackets for an IPv6 address written without them, in host:port or a URL', () => {
    for (const text of ['::1:8080', 'fe80::1:443', 'ws://::1:27081', 'redis://::1:6379/0', 'redis://:pw@::1:6379']) {
      expect(bracketHint(text), text).toBe(' (an IPv6 address goes in brackets: [::1]:8080)');
    }
  });

  it('says nothing for other mistakes, or for an address in brackets', () => {
    for (const text of ['[::1]:8080', 'ws://[::1]:27081', 'redis://127.0.0.1:abc', 'redis://:pw@host:abc', 'ws://host:8080/a:b?c=d:e', 'nohost:abc', 'localhost', '8080', '']) {
      expect(bracketHint(text), text).toBe('');
    }
  });
});
