/** `host:port` text, as the relay (`listen`, `tunnel`), the device (forward targets) and the logs write addresses. */

/** The parts of an address as written; see {@link splitHostPort}. */
export interface HostPortText {
  /**
   * The host, without the brackets of an IPv6 address. `undefined` for a bare port, `''` for
   * `:port`: the caller chooses the default host, or refuses an empty one.
   */
  readonly host: string | undefined;
  /** The port exactly as written: one or more ASCII digits, not range-checked. */
  readonly port: string;
}

/**
 * Splits `host:port`, `[ipv6]:port` or a bare `port` into its parts.
 *
 * Syntax only: the host is not checked (an IPv6 address must be in brackets, since any other
 * host may not contain a colon) and the port is any run of decimal digits, so that each caller
 * applies its own range (a listener may take port 0, a target may not) and its own messages.
 *
 * @example
 * splitHostPort('127.0.0.1:8080'); // { host: '127.0.0.1', port: '8080' }
 * splitHostPort('[::1]:80');       // { host: '::1', port: '80' }
 * splitHostPort('3000');           // { host: undefined, port: '3000' }
 * splitHostPort(':80');            // { host: '', port: '80' }
 * splitHostPort('::1:80');         // undefined (IPv6 without brackets)
 * splitHostPort('localhost');      // undefined (no port)
 * @param text the address, not trimmed.
 * @returns the host and port text, or `undefined` when `text` has none of these forms.
 */
export function splitHostPort(text: string): HostPortText | undefined {
  if (/^\d+$/.test(text)) return { host: undefined, port: text };
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) return undefined;
  return { host: match[1] ?? match[2] ?? '', port: match[3] as string };
}

/** `host:port`, the host in brackets if it is an IPv6 address: what {@link splitHostPort} takes apart. */
export const joinHostPort = (host: string, port: number | string): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
