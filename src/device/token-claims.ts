/**
 * What a device reads from its own tokens, without the secret: their times (to warn before they
 * expire, and to say when one did) and what they claim (to tell "the token does not grant this"
 * from "the relay does not open this" when a forward gets no visitors).
 */
import { decodeJwt } from 'jose';
import { normalizeName } from '../auth/names.js';

/** The claims of a token as the device sees them (unverified: only the relay can verify). */
export interface TokenClaims {
  readonly domains: readonly string[];
  readonly ports: readonly number[];
  readonly issuedAt?: Date;
  readonly notBefore?: Date;
  readonly expiresAt?: Date;
  /** `sub`, else `id`, else `device`, when a string. */
  readonly subject?: string;
}

/** Longest warning ahead of an expiry: a day. */
const MAX_WARNING_MS = 86_400_000;

/** The claims of `token`, or `undefined` when it cannot be decoded (the relay will say why). */
export function readTokenClaims(token: string): TokenClaims | undefined {
  let payload: ReturnType<typeof decodeJwt>;
  try {
    payload = decodeJwt(token.trim());
  } catch {
    return undefined;
  }
  const time = (value: unknown): Date | undefined => {
    if (typeof value !== 'number') return undefined;
    const date = new Date(value * 1000);
    return Number.isFinite(date.getTime()) ? date : undefined;
  };
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
  const issuedAt = time(payload.iat);
  const notBefore = time(payload.nbf);
  const expiresAt = time(payload.exp);
  return {
    domains: list(payload['domains']).filter((d): d is string => typeof d === 'string').map(normalizeName),
    ports: list(payload['ports']).map(Number).filter((p) => Number.isInteger(p)),
    ...(issuedAt ? { issuedAt } : {}),
    ...(notBefore ? { notBefore } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    ...subjectOf(payload),
  };
}

/**
 * When to warn that a token will expire: a tenth of its life before, at most a day before. The
 * life runs from `iat` (or from `now` for a token without one) to `exp`. `undefined` for a
 * token that never expires.
 */
export function expiryWarningAt(claims: Pick<TokenClaims, 'issuedAt' | 'expiresAt'>, now: Date): Date | undefined {
  if (!claims.expiresAt) return undefined;
  const start = (claims.issuedAt ?? now).getTime();
  const end = claims.expiresAt.getTime();
  const ahead = Math.min(Math.max(0, end - start) / 10, MAX_WARNING_MS);
  return new Date(end - ahead);
}

function subjectOf(payload: Record<string, unknown>): { subject?: string } {
  for (const claim of ['sub', 'id', 'device']) {
    const value = payload[claim];
    if (typeof value === 'string' && value !== '') return { subject: value };
  }
  return {};
}
