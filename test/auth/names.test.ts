import { describe, expect, it } from 'vitest';
import { isValidName, isWildcard, matchesName, normalizeName, wildcardCandidates, wildcardSpecificity } from '../../src/auth/index.js';

describe('normalizeName', () => {
  it('lowercases, trims and drops one trailing dot', () => {
    expect(normalizeName(' App.Example.COM. ')).toBe('app.example.com');
    expect(normalizeName('*.Example.com')).toBe('*.example.com');
    expect(normalizeName('localhost')).toBe('localhost');
  });
});

describe('isValidName', () => {
  it.each(['localhost', 'app.localhost', 'a.b.c.example.com', 'xn--bcher-kva.example', '127.0.0.1', 'a-b.c0', 'App.Example.com.', `${'a'.repeat(63)}.com`])(
    'accepts %j',
    (name) => {
      expect(isValidName(name)).toBe(true);
    },
  );

  it.each([
    '',
    '.',
    'a..b',
    '.example.com',
    'exa mple.com',
    'under_score.com',
    '-a.com',
    'a-.com',
    'bücher.example',
    'a,b.com',
    `${'a'.repeat(64)}.com`,
    `${'a.'.repeat(127)}com`, // 257 characters
    '*.example.com', // wildcards only with { wildcard: true }
  ])('refuses %j', (name) => {
    expect(isValidName(name)).toBe(false);
  });

  it('accepts a leading whole-label wildcard only when asked to', () => {
    expect(isValidName('*.example.com', { wildcard: true })).toBe(true);
    expect(isValidName('*.localhost', { wildcard: true })).toBe(true);
    expect(isValidName('example.com', { wildcard: true })).toBe(true);
    for (const pattern of ['*', '*.', '**.example.com', 'a*.example.com', 'a.*.example.com', 'example.*', '*.*.example.com']) {
      expect(isValidName(pattern, { wildcard: true }), pattern).toBe(false);
    }
  });
});

describe('matchesName', () => {
  const table: Array<[pattern: string, name: string, matches: boolean]> = [
    ['example.com', 'example.com', true],
    ['example.com', 'EXAMPLE.com.', true],
    ['example.com', 'a.example.com', false],
    ['a.example.com', 'example.com', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.Example.com', 'A.B.C.example.COM', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['*.example.com', 'a.example.com.evil', false],
    ['*.example.com', '.example.com', false],
    ['*.b.example.com', 'a.example.com', false],
    ['*.localhost', 'app.localhost', true],
    ['a.example.com', '*.example.com', false],
    ['*.example.com', '*.example.com', true], // compared literally
  ];
  it.each(table)('%j against %j → %s', (pattern, name, matches) => {
    expect(matchesName(pattern, name)).toBe(matches);
  });
});

describe('wildcardSpecificity', () => {
  it('ranks exact names above every wildcard, and longer suffixes above shorter', () => {
    expect(wildcardSpecificity('a.example.com')).toBe(Number.POSITIVE_INFINITY);
    expect(wildcardSpecificity('*.b.example.com')).toBe(3);
    expect(wildcardSpecificity('*.example.com')).toBe(2);
    expect(wildcardSpecificity('*.com')).toBe(1);
    const patterns = ['*.com', 'a.b.example.com', '*.example.com', '*.b.example.com'];
    const sorted = [...patterns].sort((a, b) => wildcardSpecificity(b) - wildcardSpecificity(a));
    expect(sorted).toEqual(['a.b.example.com', '*.b.example.com', '*.example.com', '*.com']);
  });

  it('agrees with wildcardCandidates, which lists the patterns that can match a name, most specific first', () => {
    const candidates = wildcardCandidates('A.b.example.com');
    expect(candidates).toEqual(['*.b.example.com', '*.example.com', '*.com']);
    for (const pattern of candidates) expect(matchesName(pattern, 'a.b.example.com')).toBe(true);
    expect(candidates.map(wildcardSpecificity)).toEqual([3, 2, 1]);
    expect(wildcardCandidates('localhost')).toEqual([]);
    expect(isWildcard('*.com')).toBe(true);
    expect(isWildcard('com')).toBe(false);
  });
});
