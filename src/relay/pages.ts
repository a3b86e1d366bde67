import { errorPageResponse } from '../pages/error-page.js';

/** Why the relay cannot route an HTTP visitor's name. */
export type UnroutedReason = 'unknown' | 'disconnected' | 'unreachable';

const UNROUTED: Record<UnroutedReason, (name: string) => string> = {
  unknown: (name) => `No device serves ${name} on this relay.`,
  disconnected: (name) => `${name} is served by a device that is not connected now.`,
  unreachable: (name) => `${name} is served through another relay node, which cannot be reached now.`,
};

/**
 * The page an HTTP visitor gets when no connected device serves the name it asked for: no
 * device serves it at all, the device that served it is not connected now, or (in a relay
 * cluster) the node that holds the name cannot be reached from this one.
 */
export function badGatewayResponse(name: string, reason: UnroutedReason = 'unknown'): string {
  return errorPageResponse('502 Bad Gateway', UNROUTED[reason](name || 'This name'));
}

/**
 * What a TLS visitor gets when no connected device serves the name its ClientHello asked for
 * (or it asked for none): a fatal `unrecognized_name` alert, the answer RFC 6066 (section 3)
 * gives a server that does not know the name. The relay holds no certificate for it, so this
 * is sent in the clear, before any ServerHello; clients report it as such (OpenSSL:
 * "tlsv1 unrecognized name") rather than as a reset.
 */
export const UNRECOGNIZED_NAME_ALERT: Buffer = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);

/**
 * What a visitor the relay cannot route is sent before the close: the 502 page over HTTP, the
 * `unrecognized_name` alert over TLS; nothing for other services (they are reset).
 */
export function unroutedAnswer(service: 'http' | 'https', name: string, reason: UnroutedReason): Buffer;
export function unroutedAnswer(service: string | undefined, name: string, reason: UnroutedReason): Buffer | undefined;
export function unroutedAnswer(service: string | undefined, name: string, reason: UnroutedReason): Buffer | undefined {
  if (service === 'http') return Buffer.from(badGatewayResponse(name, reason));
  return service === 'https' ? UNRECOGNIZED_NAME_ALERT : undefined;
}
