import { MAX_PORT } from './frame.js';

/** Decimal text without a sign, a leading zero (but `0` itself) or more than five digits. */
const CANONICAL_PORT = /^(?:0|[1-9][0-9]{0,4})$/;

/**
 * Reads a port given the way proxy-packer's `meta` carries one: an integer number, or its
 * canonical decimal text (decoded messages hold ports as strings).
 *
 * Only canonical text is taken because the port is part of the client id
 * (`family,address,port`): `"0443"` would name another client than `443`.
 *
 * Missing values (`undefined`, `null`, `''`) are refused like any other: each caller decides
 * what a missing port means.
 *
 * @example
 * canonicalPort(443);     // 443
 * canonicalPort('0');     // 0
 * canonicalPort('0443');  // undefined
 * canonicalPort(65536);   // undefined
 * @param value the port to check, of any type.
 * @returns the port, an integer 0-65535, or `undefined` when `value` is not one.
 */
export function canonicalPort(value: unknown): number | undefined {
  const port = typeof value === 'string' && CANONICAL_PORT.test(value) ? Number(value) : value;
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= MAX_PORT ? port : undefined;
}
