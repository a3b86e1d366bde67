import { InvalidOptionError } from '../codec/errors.js';

const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a cluster duration flag: a whole number with a unit `ms`, `s`, `m` or `h` (`30s`,
 * `500ms`), or a plain number of seconds. Returns milliseconds. `allowZero` accepts `0`
 * (e.g. no lease grace at all).
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming `what`.
 */
export function parseMilliseconds(text: string | number, what: string, allowZero = false): number {
  const value = typeof text === 'number' ? `${text}ms` : text.trim().toLowerCase();
  const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
  const ms = match ? Number(match[1]) * (MS_PER_UNIT[match[2] ?? 's'] ?? 1000) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0 || (ms === 0 && !allowZero) || ms > 2_147_483_647) {
    throw new InvalidOptionError(`${what} ${JSON.stringify(text)} is not a duration such as 30s, 500ms or 2m`);
  }
  return ms;
}
