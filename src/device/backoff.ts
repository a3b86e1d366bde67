import { InvalidOptionError } from '../codec/errors.js';
import { checkDelay } from '../control/options.js';

/** Options of {@link backoffDelay}. */
export interface BackoffOptions {
  /** First delay (ms). Default 500. */
  readonly initialDelay?: number;
  /** Largest delay (ms). Default 30 000. */
  readonly maxDelay?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Share of the delay that is random, 0–1 ("equal jitter"). Default 0.5. */
  readonly jitter?: number;
}

/**
 * Checks backoff options: delays a timer can wait (an `initialDelay` of 0 retries at once), a
 * factor of at least 1 (below it the waits would shrink to a busy loop), a jitter that is a
 * number (clamped to 0–1 as documented).
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 */
export function checkBackoffOptions(options: BackoffOptions): void {
  checkDelay('reconnect.initialDelay', options.initialDelay, 'retry at once');
  checkDelay('reconnect.maxDelay', options.maxDelay);
  const { factor, jitter } = options;
  if (factor !== undefined && (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1)) {
    throw new InvalidOptionError(`reconnect.factor must be a number of at least 1, got ${String(factor)}`);
  }
  if (jitter !== undefined && (typeof jitter !== 'number' || Number.isNaN(jitter))) {
    throw new InvalidOptionError(`reconnect.jitter must be a number (clamped to 0-1), got ${String(jitter)}`);
  }
}

/**
 * The delay before reconnect attempt `attempt` (1-based): exponential, capped, with jitter so
 * that many devices dropped by one relay restart do not come back in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelay ?? 500;
  const max = options.maxDelay ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}
