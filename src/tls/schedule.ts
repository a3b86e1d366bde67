/** When a certificate is renewed, and how long a failed order waits: pure, so tests need no clock. */

/** An issued certificate's validity. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** How renewal and retries are timed. */
export interface RenewalTiming {
  /**
   * Renew when less than this many ms of validity are left. Default: a third of the
   * certificate's lifetime (30 days of Let's Encrypt's 90).
   */
  readonly renewBefore?: number;
  /** First wait after a failed order (ms). Default 60 000. */
  readonly retryInitialDelay?: number;
  /** Longest wait between failed orders (ms). Default 6 hours. */
  readonly retryMaxDelay?: number;
}

/** No name is ordered twice within this time, whatever the window says. */
export const MIN_RENEWAL_GAP = 60 * 60 * 1000;

/** When to order a new certificate for one we hold. */
export function renewalTime(validity: Validity, timing: RenewalTiming = {}): Date {
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  const before = timing.renewBefore ?? lifetime / 3;
  return new Date(validity.notAfter.getTime() - before);
}

/**
 * The wait after failed attempt `attempt` (1-based): doubling from the initial delay up to the
 * maximum, and never before the CA said to come back.
 */
export function retryDelay(attempt: number, timing: RenewalTiming = {}, retryAt?: Date, now = Date.now()): number {
  const initial = timing.retryInitialDelay ?? 60_000;
  const max = timing.retryMaxDelay ?? 6 * 60 * 60 * 1000;
  const backoff = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return Math.max(backoff, retryAt ? retryAt.getTime() - now : 0);
}
