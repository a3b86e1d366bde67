import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * Node-to-node authentication with the cluster secret (every node has the relay's `--secret`).
 * The dialing node proves it knows the secret with an HMAC over its id, the id of the node it
 * dials, a fresh nonce and the time; the answering node proves it back over the same nonce. Over
 * TLS both MACs also cover the TLS session's exported keying material, so that a proof cannot
 * be relayed into another session (a man in the middle). The labels keep these MACs apart from
 * device tokens, which the same secret signs.
 */

/** How far a dialer's clock may be from ours. */
export const AUTH_WINDOW_MS = 5 * 60_000;

/** What the dialer sends (`node_auth`). */
export interface NodeAuthRequest {
  readonly from: string;
  readonly to: string;
  readonly nonce: string;
  readonly time: number;
  readonly mac: string;
}

function mac(secret: string | Uint8Array, label: string, parts: readonly (string | number)[], binding: string): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`mproxy-node-auth\0${label}\0`);
  for (const part of parts) hmac.update(`${String(part)}\0`);
  hmac.update(binding);
  return hmac.digest('hex');
}

/** The TLS session's keying material (hex), or '' over plain TCP. */
export function channelBinding(socket: Socket): string {
  return socket instanceof TLSSocket ? socket.exportKeyingMaterial(32, 'EXPORTER-mproxy-node-auth', Buffer.alloc(0)).toString('hex') : '';
}

/** The dialer's proof. */
export function nodeAuthRequest(secret: string | Uint8Array, from: string, to: string, binding: string): NodeAuthRequest {
  const nonce = randomBytes(16).toString('hex');
  const time = Date.now();
  return { from, to, nonce, time, mac: mac(secret, 'dialer', [from, to, nonce, time], binding) };
}

/** Whether the dialer's proof is good (not whether its nonce is fresh: the caller keeps those). */
export function checkNodeAuth(secret: string | Uint8Array, self: string, request: unknown, binding: string): request is NodeAuthRequest {
  const r = request as Partial<NodeAuthRequest> | null;
  if (!r || typeof r !== 'object') return false;
  if (typeof r.from !== 'string' || r.to !== self || typeof r.nonce !== 'string' || typeof r.time !== 'number' || typeof r.mac !== 'string') return false;
  if (Math.abs(Date.now() - r.time) > AUTH_WINDOW_MS) return false;
  return equal(r.mac, mac(secret, 'dialer', [r.from, r.to, r.nonce, r.time], binding));
}

/** The answering node's proof back. */
export function nodeAuthAnswer(secret: string | Uint8Array, request: NodeAuthRequest, binding: string): string {
  return mac(secret, 'answer', [request.to, request.from, request.nonce], binding);
}

/** Whether the answer proves the remote knows the secret. */
export function checkNodeAuthAnswer(secret: string | Uint8Array, request: NodeAuthRequest, answer: unknown, binding: string): boolean {
  return typeof answer === 'string' && equal(answer, nodeAuthAnswer(secret, request, binding));
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
