/**
 * Tunnel tokens: HS256 JWTs that say which names and ports a device may serve.
 *
 * The format is telebit's (see `docs/auth.md`): claims `domains` (names, wildcards allowed),
 * `ports` (numbers or numeric strings), optionally `sub`/`id`/`device` and `exp`. Tokens minted
 * by telebit have neither `sub` nor `exp`, so both are optional here too.
 */
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { InvalidOptionError } from '../codec/errors.js';
import { AuthError } from './errors.js';
import { isValidName, normalizeName } from './names.js';
import { isPort } from './policy.js';

/** The one algorithm mproxy signs and accepts. Anything else (`none` included) is refused. */
export const TOKEN_ALGORITHM = 'HS256';

/**
 * Longest token accepted, in characters. A token arrives in a header, a query string or a
 * control message; refusing a huge one before decoding it keeps a device from making the relay
 * parse megabytes of JSON. 16 KiB holds some sixty maximal names.
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** The shared HMAC secret: a string (used as its UTF-8 bytes, as telebit does) or raw bytes. */
export type TokenSecret = string | Uint8Array;

/** What a verified token allows, with its claims normalised. */
export interface Grant {
  /** Who the token was issued to: its `sub` claim, else `id`, else `device`; may be absent. */
  readonly subject?: string;
  /** Names the device may serve: lowercase, no trailing dot, deduplicated, in claim order. */
  readonly domains: readonly string[];
  /** Ports the device may claim (TCP and UDP alike), 1–65535, deduplicated, in claim order. */
  readonly ports: readonly number[];
  /** When the token stops being valid (its `exp`); absent for tokens without `exp`. */
  readonly expiresAt?: Date;
  /** The token itself, as received (trimmed); identifies the grant for `delete_token`. */
  readonly token: string;
  /** The token's `jti` claim, when it has one: what an operator revokes it by. */
  readonly jti?: string;
}

/** Claims {@link issueToken} puts in a token. At least one name or port is required. */
export interface TokenClaims {
  /** Names the device may serve; `*.example.com` wildcards allowed. */
  domains?: readonly string[];
  /** Ports the device may claim, 1–65535. */
  ports?: readonly number[];
  /** Who the token is for; devices with the same subject may share a name. */
  sub?: string;
  /** An identifier of this token (`jti`), by which a relay's admin API can revoke it. */
  jti?: string;
}

/** Options of {@link issueToken}. */
export interface IssueOptions {
  /**
   * Lifetime: a duration such as `'24h'`, `'30m'`, `'7d'` (see {@link parseDuration}) or a
   * number of seconds. Absent: the token has no `exp` and never expires, like telebit's.
   */
  expiresIn?: string | number;
  /** The issue time (`iat`, and the base of `exp`). Default: now. */
  now?: Date;
}

/** Options of {@link verifyToken}. */
export interface VerifyOptions {
  /** The time `exp` and `nbf` are checked against. Default: now. */
  now?: Date;
}

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parses a duration as the CLI takes it: a positive whole number followed by `s`, `m`, `h` or
 * `d`, or a plain number of seconds (`'90'`). Returns seconds.
 *
 * @param name what the message calls the value (`issueToken` says `expiresIn`).
 * @throws InvalidOptionError (`E_INVALID_OPTION`) for anything else: empty, zero, negative,
 *   fractional, an unknown unit, or a value too large to be exact.
 */
export function parseDuration(text: string, name = 'duration'): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim().toLowerCase());
  const amount = match?.[1];
  const unit = match?.[2];
  if (amount === undefined || unit === undefined) {
    throw new InvalidOptionError(`${name} must be a whole number with an optional unit s, m, h or d (e.g. "24h"), got ${JSON.stringify(text)}`);
  }
  const seconds = Number(amount) * (SECONDS_PER_UNIT[unit === '' ? 's' : unit] ?? 1);
  return checkLifetime(seconds, text, name);
}

function checkLifetime(seconds: number, shown: unknown, name: string): number {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new InvalidOptionError(`${name} must be a positive whole number of seconds, got ${JSON.stringify(shown)}`);
  }
  return seconds;
}

function secretKey(secret: TokenSecret): Uint8Array {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  // An empty HMAC key verifies whatever anyone signs with an empty key: never a real secret.
  if (!(key instanceof Uint8Array) || key.byteLength === 0) {
    throw new InvalidOptionError('secret must be a non-empty string or Uint8Array');
  }
  return key;
}

/**
 * Signs a token (JWT, HS256) for the given names and ports, with `iat` and, when `expiresIn` is
 * given, `exp`. The claims are checked exactly as {@link verifyToken} checks them, so a token
 * issued here is always accepted by a relay with the same secret (until it expires).
 *
 * @throws AuthError `E_TOKEN_CLAIMS` when a name or port is invalid, or neither is given.
 * @throws InvalidOptionError `E_INVALID_OPTION` for an empty secret or a bad `expiresIn`.
 */
export async function issueToken(secret: TokenSecret, claims: TokenClaims, options: IssueOptions = {}): Promise<string> {
  const key = secretKey(secret);
  const domains = normalizeDomains(claims.domains);
  const ports = normalizePorts(claims.ports);
  requireSomething(domains, ports);
  if (claims.sub !== undefined && (typeof claims.sub !== 'string' || claims.sub === '')) {
    throw new AuthError('E_TOKEN_CLAIMS', 'sub must be a non-empty string');
  }
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const payload: JWTPayload = {};
  if (domains.length > 0) payload['domains'] = domains;
  if (ports.length > 0) payload['ports'] = ports;
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' }).setIssuedAt(issuedAt);
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.jti !== undefined) {
    if (typeof claims.jti !== 'string' || claims.jti === '') throw new AuthError('E_TOKEN_CLAIMS', 'jti must be a non-empty string');
    jwt.setJti(claims.jti);
  }
  if (options.expiresIn !== undefined) {
    const lifetime =
      typeof options.expiresIn === 'number' ? checkLifetime(options.expiresIn, options.expiresIn, 'expiresIn') : parseDuration(options.expiresIn, 'expiresIn');
    // A Date reaches 8.64e15 ms; an `exp` past it could never be read back as a time.
    if (!Number.isFinite(new Date((issuedAt + lifetime) * 1000).getTime())) {
      throw new InvalidOptionError(`expiresIn ${JSON.stringify(options.expiresIn)} puts the expiry past the year 275760`);
    }
    jwt.setExpirationTime(issuedAt + lifetime);
  }
  return jwt.sign(key);
}

/**
 * Verifies a token and returns what it grants.
 *
 * Refused, in this order: no token (`E_TOKEN_MISSING`); not three base64url parts with a JSON
 * header, or longer than {@link MAX_TOKEN_LENGTH} (`E_TOKEN_MALFORMED`); an algorithm other than
 * HS256, `none` included, or a signature that does not match the secret (`E_TOKEN_SIGNATURE`);
 * an `exp` at or before `now` (`E_TOKEN_EXPIRED`), or an `nbf` after it (`E_TOKEN_NOT_YET_VALID`); claims that are not as
 * described in {@link Grant}, or grant no name and no port (`E_TOKEN_CLAIMS`). `exp` is checked
 * only where present: telebit's tokens have none.
 *
 * @throws AuthError with one of the codes above.
 * @throws InvalidOptionError `E_INVALID_OPTION` for an empty secret.
 */
export async function verifyToken(token: string | undefined, secret: TokenSecret, options: VerifyOptions = {}): Promise<Grant> {
  const key = secretKey(secret);
  const trimmed = token?.trim() ?? '';
  if (trimmed === '') throw new AuthError('E_TOKEN_MISSING', 'no token was given');
  checkShape(trimmed);

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(trimmed, key, {
      algorithms: [TOKEN_ALGORITHM],
      ...(options.now === undefined ? {} : { currentDate: options.now }),
    }));
  } catch (err) {
    throw fromJose(err);
  }
  return grantFromClaims(payload, trimmed);
}

/**
 * Checks the parts and the header before the signature, so that `alg: none` and other
 * algorithms get `E_TOKEN_SIGNATURE` with a message that names them, and garbage gets
 * `E_TOKEN_MALFORMED`, whatever jose's wording of the day.
 */
function checkShape(token: string): void {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AuthError('E_TOKEN_MALFORMED', `token is ${token.length} characters long, over the limit of ${MAX_TOKEN_LENGTH}`);
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]*$/.test(part)) || parts[0] === '' || parts[1] === '') {
    throw new AuthError('E_TOKEN_MALFORMED', 'token is not a JWT (three base64url parts separated by dots)');
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
  } catch (err) {
    throw new AuthError('E_TOKEN_MALFORMED', 'token header is not JSON', { cause: err });
  }
  if (!isRecord(header) || typeof header['alg'] !== 'string') {
    throw new AuthError('E_TOKEN_MALFORMED', 'token header has no "alg"');
  }
  if (header['alg'] !== TOKEN_ALGORITHM) {
    throw new AuthError('E_TOKEN_SIGNATURE', `token algorithm ${JSON.stringify(header['alg'])} is not accepted; only ${TOKEN_ALGORITHM}`);
  }
  if (parts[2] === '') throw new AuthError('E_TOKEN_SIGNATURE', 'token has no signature');
}

function fromJose(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof errors.JWTExpired) {
    return new AuthError('E_TOKEN_EXPIRED', `token expired${atTime(err.payload.exp)}`, { cause: err });
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' && err.reason === 'check_failed') {
      return new AuthError('E_TOKEN_NOT_YET_VALID', `token is not valid before${atTime(err.payload.nbf).slice(3)}`, { cause: err });
    }
    return new AuthError('E_TOKEN_CLAIMS', `token claim "${err.claim}" is invalid`, { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JOSEAlgNotAllowed) {
    return new AuthError('E_TOKEN_SIGNATURE', 'token signature does not match the secret', { cause: err });
  }
  return new AuthError('E_TOKEN_MALFORMED', 'token could not be decoded', { cause: err });
}

/** ` at <ISO time>` for a JWT time claim, or nothing when it cannot be shown as a time. */
function atTime(seconds: unknown): string {
  if (typeof seconds !== 'number') return '';
  const date = new Date(seconds * 1000);
  return Number.isFinite(date.getTime()) ? ` at ${date.toISOString()}` : '';
}

function grantFromClaims(payload: JWTPayload, token: string): Grant {
  const domains = normalizeDomains(claimArray(payload, 'domains'));
  const ports = normalizePorts(claimArray(payload, 'ports'));
  requireSomething(domains, ports);
  const subject = subjectOf(payload);
  const expiresAt = payload.exp === undefined ? undefined : new Date(payload.exp * 1000);
  if (expiresAt !== undefined && !Number.isFinite(expiresAt.getTime())) {
    throw new AuthError('E_TOKEN_CLAIMS', 'token claim "exp" is not a representable time');
  }
  return {
    ...(subject === undefined ? {} : { subject }),
    domains,
    ports,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    token,
    ...(typeof payload.jti === 'string' && payload.jti !== '' ? { jti: payload.jti } : {}),
  };
}

/** A claim that must be an array when present; `null` counts as absent (telebit writes it). */
function claimArray(payload: JWTPayload, claim: string): readonly unknown[] | undefined {
  const value = payload[claim];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new AuthError('E_TOKEN_CLAIMS', `token claim "${claim}" must be an array`);
  return value;
}

function subjectOf(payload: JWTPayload): string | undefined {
  for (const claim of ['sub', 'id', 'device']) {
    const value = payload[claim];
    if (value === undefined || value === null) continue;
    // A subject decides who may share a name: a wrong type must not quietly fall through to
    // the next claim, or to "no subject".
    if (typeof value !== 'string' || value === '') {
      throw new AuthError('E_TOKEN_CLAIMS', `token claim "${claim}" must be a non-empty string`);
    }
    return value;
  }
  return undefined;
}

function normalizeDomains(values: readonly unknown[] | undefined): string[] {
  const out = new Set<string>();
  for (const value of values ?? []) {
    if (typeof value !== 'string' || !isValidName(value, { wildcard: true })) {
      throw new AuthError('E_TOKEN_CLAIMS', `invalid name in "domains": ${JSON.stringify(value)} (a host name: labels of letters, digits and '-' between dots, or *.NAME)`);
    }
    out.add(normalizeName(value));
  }
  return [...out];
}

function normalizePorts(values: readonly unknown[] | undefined): number[] {
  const out = new Set<number>();
  for (const value of values ?? []) {
    // telebit writes ports as numbers or as numeric strings; both mean the same port.
    const port = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : value;
    if (!isPort(port)) {
      throw new AuthError('E_TOKEN_CLAIMS', `invalid port in "ports": ${JSON.stringify(value)}`);
    }
    out.add(port);
  }
  return [...out];
}

function requireSomething(domains: readonly string[], ports: readonly number[]): void {
  if (domains.length === 0 && ports.length === 0) {
    throw new AuthError('E_TOKEN_CLAIMS', 'token grants no name and no port');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
