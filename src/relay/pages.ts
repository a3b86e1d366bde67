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
