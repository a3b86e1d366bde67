/**
 * What a device says when the relay refuses its token: one sentence a person can act on, and
 * the relay's code, so that the owner of a device need not read the relay's log.
 */
import { MproxyError } from '../codec/errors.js';
import type { TokenClaims } from './token-claims.js';

/**
 * The relay refused a token: on the upgrade (HTTP 401 with `{message, code}`), by closing the
 * tunnel with 4401, or in its answer to `add_token`. Fatal: a device does not retry it.
 * `code` is the relay's (`E_TOKEN_EXPIRED`, `E_NAME_TAKEN`, …), or `E_AUTH_REFUSED` when the
 * relay gave none (a telebit relay).
 */
export class TokenRefusedError extends MproxyError {
  /** Always true: tells a refusal from the device's other errors. */
  readonly refused = true;
  /** Why, as a sentence about the token ("it expired at …"). */
  readonly reason: string;

  constructor(code: string, reason: string, options?: { cause?: unknown }) {
    super(code, `the relay refused the token: ${reason}`, options);
    this.reason = reason;
  }
}

/**
 * The sentence for a refusal with `code`, using what the device knows of its own token (its
 * times) and the relay's `message` where the relay knows better (which name is taken).
 */
export function refusalReason(code: string | undefined, message: string | undefined, claims: TokenClaims | undefined): string {
  const relaySays = message?.trim() || 'no reason given';
  switch (code) {
    case 'E_TOKEN_SIGNATURE':
      return "it is not signed with this relay's secret (issue it with `mproxy token` and the relay's secret)";
    case 'E_TOKEN_EXPIRED':
      return claims?.expiresAt ? `it expired at ${claims.expiresAt.toISOString()}` : relaySays.replace(/^token /, 'it ');
    case 'E_TOKEN_NOT_YET_VALID':
      return `${claims?.notBefore ? `it is not valid before ${claims.notBefore.toISOString()}` : relaySays.replace(/^token /, 'it ')} (check the clocks)`;
    case 'E_TOKEN_MALFORMED':
      return 'it is not a JWT (was it cut or changed when copied?)';
    case 'E_TOKEN_CLAIMS':
      return `its claims are not valid: ${relaySays}`;
    case 'E_TOKEN_MISSING':
      return 'no token reached the relay';
    case 'E_NAME_TAKEN':
    case 'E_PORT_TAKEN':
      return `${relaySays} (stop that device, or give both tokens the same --sub)`;
    case 'E_PORT_NOT_ALLOWED':
      return relaySays;
    case 'E_NO_TOKEN':
      return 'the tunnel held no valid token within the grace period';
    default:
      return relaySays;
  }
}

/**
 * Reads a refusal's `{message, code}`: a JSON body (mproxy relays) or a close reason
 * `E_CODE: message`. Anything else gives no code.
 */
export function parseRefusal(text: string): { code?: string; message?: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const body = JSON.parse(trimmed) as { code?: unknown; message?: unknown };
      return {
        ...(typeof body.code === 'string' && /^E_[A-Z0-9_]+$/.test(body.code) ? { code: body.code } : {}),
        ...(typeof body.message === 'string' ? { message: body.message } : {}),
      };
    } catch {
      return {};
    }
  }
  const match = /^(E_[A-Z0-9_]+):\s*(.*)$/s.exec(trimmed);
  if (match) return { code: match[1] as string, message: match[2] as string };
  return trimmed === '' ? {} : { message: trimmed };
}
