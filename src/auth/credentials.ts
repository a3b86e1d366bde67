/**
 * Where a device puts its token when it opens the tunnel's WebSocket.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The parts of an HTTP request (a Node `IncomingMessage` fits) that can carry a token. */
export interface CredentialRequest {
  readonly headers: IncomingHttpHeaders;
  /** The request target, usually a path with a query (`/ws?access_token=…`); may be absolute. */
  readonly url?: string | undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The token a device sent with its request, or `undefined` when there is none. Looked for in
 * this order, the first one found wins:
 *
 * 1. `Authorization: Bearer <token>` (mproxy's addition);
 * 2. `Authorization: Basic base64(user:token)`: the token is the password, as telebit sends it;
 *    when the password is empty (or there is no `:`), the user part is the token;
 * 3. the `access_token` query parameter (telebit's other form).
 *
 * An `Authorization` header of another scheme, or one that cannot be decoded, is passed over
 * rather than refused, so that a token in the query still counts. The token is not verified
 * here; pass it to `verifyToken`.
 */
export function tokenFromRequest(req: CredentialRequest): string | undefined {
  return fromAuthorization(req.headers.authorization) ?? fromQuery(req.url);
}

function fromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  const scheme = match?.[1]?.toLowerCase();
  const value = match?.[2];
  if (value === undefined) return undefined;
  if (scheme === 'bearer') return value;
  if (scheme === 'basic') return fromBasic(value);
  return undefined;
}

function fromBasic(encoded: string): string | undefined {
  // Buffer's decoder skips characters it does not know; check first so garbage is not read
  // as a token made of whatever bytes happened to decode.
  if (!BASE64.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  const password = colon === -1 ? '' : decoded.slice(colon + 1);
  const token = password !== '' ? password : user;
  return token === '' ? undefined : token;
}

function fromQuery(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  let params: URLSearchParams;
  try {
    params = new URL(url, 'http://relay.invalid').searchParams;
  } catch {
    return undefined;
  }
  const token = params.getAll('access_token').find((value) => value !== '');
  return token;
}
