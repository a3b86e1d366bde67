/**
 * What a device tells its owner once connected: for each forward, either the public address
 * that reaches it, or why the relay will route it no visitors.
 */
import { isWildcard, matchesName } from '../auth/names.js';
import { joinHostPort } from '../transport/host-port.js';
import type { Forward } from './forwards.js';
import type { TokenClaims } from './token-claims.js';

/** What the relay granted on this connection (read from its `grant` pushes). */
export interface Granted {
  readonly names: Set<string>;
  readonly tcp: Set<number>;
  readonly udp: Set<number>;
}

export function emptyGranted(): Granted {
  return { names: new Set(), tcp: new Set(), udp: new Set() };
}

/**
 * Adds a `grant` push to `granted`: telebit's form, `[['https', name], ['tcp', label, [port]],
 * …]`. Entries of another shape are passed over. Returns whether anything was read.
 */
export function addGrantPush(granted: Granted, push: unknown): boolean {
  if (!Array.isArray(push)) return false;
  let read = false;
  for (const entry of push) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue;
    const [service, name, ports] = entry as [string, unknown, unknown];
    if ((service === 'https' || service === 'http') && typeof name === 'string') {
      granted.names.add(name.toLowerCase());
      read = true;
    } else if ((service === 'tcp' || service === 'udp') && Array.isArray(ports)) {
      for (const port of ports) if (typeof port === 'number') granted[service].add(port);
      read = true;
    }
  }
  return read;
}

/** One line about one forward. */
export type ForwardReport =
  | { readonly served: true; readonly line: string }
  | { readonly served: false; readonly line: string; readonly code: 'E_NOT_GRANTED' | 'E_PORT_NOT_ALLOWED' };

/**
 * The report for each forward: `serving https://app.example.com → 127.0.0.1:3000`
 * (`→ http://127.0.0.1:3000` when the device terminates the TLS), `serving tcp
 * relay.example.com:5050 → 127.0.0.1:22`, or the reason it gets no visitors.
 * `granted` undefined: the relay said nothing of what it grants (every forward is reported
 * served). `claims`: what the device's tokens ask for, to tell a port the relay does not open
 * from one no token asked for.
 */
export function reportForwards(
  forwards: readonly Forward[],
  granted: Granted | undefined,
  claims: readonly TokenClaims[],
  relayHost: string,
): ForwardReport[] {
  return forwards.map((forward) => {
    // A terminated name says what the local service is then sent: plain HTTP or bytes.
    const target = `${forward.terminate ? `${forward.terminate}://` : ''}${joinHostPort(forward.target.host, forward.target.port)}`;
    if (forward.service === 'https' || forward.service === 'http') {
      const name = forward.name as string;
      const line = `${forward.service}://${name} → ${target}`;
      if (!granted || [...granted.names].some((held) => matchesName(held, name))) return { served: true, line: `serving ${line}` };
      // A wildcard forward serves whichever granted names it covers.
      const covered = isWildcard(name) ? [...granted.names].filter((held) => matchesName(name, held)) : [];
      if (covered.length > 0) return { served: true, line: `serving ${line} (for ${listed(covered)})` };
      return { served: false, line: `${line} gets no visitors: no token of this device grants the name ${name}`, code: 'E_NOT_GRANTED' };
    }
    const kind = forward.service;
    const port = forward.port as number;
    const line = `${kind} ${relayHost}:${port} → ${target}`;
    if (!granted || granted[kind].has(port)) return { served: true, line: `serving ${line}` };
    if (claims.some((claim) => claim.ports.includes(port))) {
      return {
        served: false,
        line: `${line} gets no visitors: the relay does not open ${kind.toUpperCase()} port ${port} to devices (its --${kind}-ports)`,
        code: 'E_PORT_NOT_ALLOWED',
      };
    }
    return { served: false, line: `${line} gets no visitors: no token of this device grants port ${port}`, code: 'E_NOT_GRANTED' };
  });
}

/** `a`, `a and b`, `a, b, c and 4 more`. */
function listed(names: readonly string[]): string {
  const shown = names.slice(0, 3);
  const more = names.length - shown.length;
  if (more > 0) return `${shown.join(', ')} and ${more} more`;
  return shown.length === 1 ? (shown[0] as string) : `${shown.slice(0, -1).join(', ')} and ${shown.at(-1) as string}`;
}
