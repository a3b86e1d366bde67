import { describe, expect, it } from 'vitest';
import { canonicalPort } from '../../src/codec/port.js';

describe('canonicalPort', () => {
  it.each([
    [0, 0],
    [1, 1],
    [443, 443],
    [65535, 65535],
    ['0', 0],
    ['1', 1],
    ['443', 443],
    ['65535', 65535],
  ])('reads %j as %j', (value, port) => {
    expect(canonicalPort(value)).toBe(port);
  });

  it.each([
    ['out of range', [65536, -1, '65536', '99999', '100000', Number.MAX_SAFE_INTEGER, Infinity]],
    ['not an integer', [1.5, Number.NaN, '1.5', '1e3', '0x50']],
    ['not canonical decimal', ['0443', '00', '+80', '-1', ' 443', '443 ', '4 43']],
    ['not numeric', ['abc', 'http', '80a', true, {}, [80], 80n]],
    ['missing', [undefined, null, '']],
  ])('refuses a port %s', (_why, values) => {
    for (const value of values) expect(canonicalPort(value), String(value)).toBeUndefined();
  });
});
