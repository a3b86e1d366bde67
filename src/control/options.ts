import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../codec/errors.js';

/** Options of `createControlChannel()`. */
export interface ControlChannelOptions {
  /**
   * How long (ms) `request()` waits for its answer before failing with `E_CONTROL_TIMEOUT`.
   * Default 10 000 (telebit's rule: no answer in 10 s counts as failed). `Infinity`: forever.
   */
  timeout?: number;
  /** Where timeouts are scheduled; tests pass a `TestScheduler`. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /**
   * Answer requests that no `handle()` takes, and that no `requests$` subscriber answered as
   * they were emitted, with `E_UNKNOWN_COMMAND` (default true). False leaves them to
   * `requests$` subscribers, who may then answer later.
   */
  answerUnknown?: boolean;
}

/** {@link ControlChannelOptions} with defaults filled in, validated once. */
export interface ResolvedControlChannelOptions {
  readonly timeout: number;
  readonly scheduler: SchedulerLike;
  readonly answerUnknown: boolean;
}

/** Telebit's rule: a request with no response in 10 s counts as failed. */
export const DEFAULT_CONTROL_TIMEOUT = 10_000;

/** The longest delay a Node timer takes (ms); longer ones fire at once. */
export const MAX_TIMER = 2 ** 31 - 1;

/**
 * Checks an optional delay option (ms): a positive number a Node timer can wait (beyond
 * MAX_TIMER, Node fires at once), or 0 where `zero` says what it means.
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 */
export function checkDelay(name: string, value: number | undefined, zero?: string): void {
  if (value === undefined || (value === 0 && zero !== undefined)) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER) {
    const also = zero === undefined ? '' : `, or 0 (${zero})`;
    throw new InvalidOptionError(`${name} must be a positive number of milliseconds up to ${MAX_TIMER}${also}, got ${String(value)}`);
  }
}

/**
 * Checks a role's `keepalive` option (relay and device take the same): its `interval` and
 * `timeout` are delays as {@link checkDelay} wants them. `false` (keepalive off), and `null` or
 * `undefined` as a plain-JS caller's "nothing" (the defaults apply), are fine as they are.
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 */
export function checkKeepaliveOption(keepalive: { interval?: number; timeout?: number } | false | null | undefined): void {
  if (!keepalive) return;
  checkDelay('keepalive.interval', keepalive.interval);
  checkDelay('keepalive.timeout', keepalive.timeout);
}

export function resolveControlChannelOptions(options: ControlChannelOptions = {}): ResolvedControlChannelOptions {
  const timeout = options.timeout ?? DEFAULT_CONTROL_TIMEOUT;
  // Node's timers fire at once for delays past 2^31 - 1 ms: a larger finite timeout would
  // fail every request immediately.
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout <= 0 || (timeout > MAX_TIMER && timeout !== Infinity)) {
    throw new InvalidOptionError(`timeout must be a positive number of milliseconds up to ${MAX_TIMER}, or Infinity; got ${String(timeout)}`);
  }
  const answerUnknown = options.answerUnknown ?? true;
  if (typeof answerUnknown !== 'boolean') {
    throw new InvalidOptionError(`answerUnknown must be a boolean, got ${String(answerUnknown)}`);
  }
  return { timeout, scheduler: options.scheduler ?? asyncScheduler, answerUnknown };
}
