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
export type ResolvedTransportOptions = Readonly<Required<TransportOptions>>;

/**
 * Fills in the defaults and checks the watermarks.
 * @throws {InvalidOptionError} `E_INVALID_OPTION` when a watermark is not a non-negative
 *   integer, or when `lowWaterMark` exceeds `highWaterMark`.
 */
export function resolveTransportOptions(options: TransportOptions = {}): ResolvedTransportOptions {
  const highWaterMark = checkSize('highWaterMark', options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK);
  // A caller who only shrinks highWaterMark should not have to restate lowWaterMark too.
  const lowWaterMark = checkSize('lowWaterMark', options.lowWaterMark ?? Math.min(DEFAULT_LOW_WATER_MARK, highWaterMark));
  checkAtMost('lowWaterMark', lowWaterMark, 'highWaterMark', highWaterMark);
  return { highWaterMark, lowWaterMark };
}

/** @returns `value`, an integer of at least `min`. @throws {InvalidOptionError} naming `name` otherwise. */
export function checkSize(name: string, value: number, min = 0): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
  }
  return value;
}

/** @throws {InvalidOptionError} when the size `small` exceeds the size `large`. */
export function checkAtMost(smallName: string, small: number, largeName: string, large: number): void {
  if (small > large) throw new InvalidOptionError(`${smallName} (${small}) must not exceed ${largeName} (${large})`);
}
