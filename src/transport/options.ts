/**
 * Defaults of {@link TransportOptions} and their validation, in one place, so that every
 * transport agrees on what the watermarks mean.
 */
import { InvalidOptionError } from '../codec/errors.js';
import type { TransportOptions } from './transport.js';

/** Default `highWaterMark`: 1 MiB, the value telebit uses for its WebSocket. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

/** Default `lowWaterMark`: 128 KiB (or `highWaterMark` when that is smaller). */
export const DEFAULT_LOW_WATER_MARK = 128 * 1024;

/** {@link TransportOptions} with every default filled in, validated once. */
export interface ResolvedTransportOptions {
  readonly highWaterMark: number;
  readonly lowWaterMark: number;
}

/**
 * Fills in the defaults and checks the watermarks.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` when a watermark is not a non-negative
 *   integer, or when `lowWaterMark` exceeds `highWaterMark`.
 */
export function resolveTransportOptions(options: TransportOptions = {}): ResolvedTransportOptions {
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  checkSize('highWaterMark', highWaterMark);
  // A caller who only shrinks highWaterMark should not have to restate lowWaterMark too.
  const lowWaterMark = options.lowWaterMark ?? Math.min(DEFAULT_LOW_WATER_MARK, highWaterMark);
  checkSize('lowWaterMark', lowWaterMark);
  checkWatermarks(lowWaterMark, highWaterMark);
  return { highWaterMark, lowWaterMark };
}

/** @throws {InvalidOptionError} when `lowWaterMark` exceeds `highWaterMark`. */
export function checkWatermarks(lowWaterMark: number, highWaterMark: number): void {
  if (lowWaterMark > highWaterMark) {
    throw new InvalidOptionError(`lowWaterMark (${lowWaterMark}) must not exceed highWaterMark (${highWaterMark})`);
  }
}

function checkSize(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
}
