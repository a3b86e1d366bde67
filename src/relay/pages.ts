import { errorPageResponse } from '../pages/error-page.js';

/** Why the relay cannot route an HTTP visitor's name. */
export type UnroutedReason = 'unknown' | 'disconnected';

/**
 * The page an HTTP visitor gets when no connected device serves the name it asked for: either
 * no device serves it at all, or the device that served it is not connected now.
 */
export function badGatewayResponse(name: string, reason: UnroutedReason = 'unknown'): string {
  const shown = name || 'This name';
  return errorPageResponse(
    '502 Bad Gateway',
    reason === 'disconnected'
      ? `${shown} is served by a device that is not connected now.`
      : `No device serves ${shown} on this relay.`,
  );
}

/**
 * What a TLS visitor gets when no connected device serves the name its ClientHello asked for
 * (or it asked for none): a fatal `unrecognized_name` alert, the answer RFC 6066 (section 3)
 * gives a server that does not know the name. The relay holds no certificate for it, so this
 * is sent in the clear, before any ServerHello; clients report it as such (OpenSSL:
 * "tlsv1 unrecognized name") rather than as a reset.
 */
export const UNRECOGNIZED_NAME_ALERT: Buffer = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);
