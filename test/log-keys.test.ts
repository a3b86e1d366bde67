/** The check that the log tests use to find a key named twice in one JSON line. */
import { describe, expect, it } from 'vitest';
import { repeatedJsonKeys } from './support/index.js';

describe('repeatedJsonKeys', () => {
  it('finds a key repeated at the top and in a nested object', () => {
    expect(repeatedJsonKeys('{"level":30,"node":"a","node":"b"}')).toEqual(['node']);
    expect(repeatedJsonKeys('{"a":1,"b":{"c":1,"c":2},"a":"x\\"a"}')).toEqual(['b.c', 'a']);
  });

  it('takes the same key in sibling objects, and a key inside a string, as no repeat', () => {
    expect(repeatedJsonKeys('{"node":"a","x":[{"node":1},{"node":2}],"s":"{\\"node\\":1,\\"node\\":2}"}')).toEqual([]);
  });
});
