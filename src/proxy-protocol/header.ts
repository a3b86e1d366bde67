/**
 * PROXY protocol headers (HAProxy's `proxy-protocol.txt`, versions 1 and 2): what a load
 * balancer puts in front of a connection to tell the server who the client really is.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidOptionError } from '../codec/errors.js';

/** One end of a proxied connection. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

/** What a PROXY header says. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * `proxy`: the connection was relayed for `source`. `local`: the proxy itself connected (a
   * health check, v2 only); v1's `UNKNOWN` reads as `local` too. Neither carries addresses then.
   */
  readonly command: 'proxy' | 'local';
  /** `IPv4` or `IPv6` with `proxy`; `unspec` otherwise (and for v2's unix sockets). */
  readonly family: 'IPv4' | 'IPv6' | 'unspec';
  /** `tcp`, `udp` (v2 only), or `unspec`. */
  readonly transport: 'tcp' | 'udp' | 'unspec';
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
}

/** The PROXY protocol version a device writes (`proxy=v1` or `proxy=v2` on a forward). */
export type ProxyVersion = 'v1' | 'v2';

/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** What every v1 header starts with. */
export const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 header, CRLF included (the specification's limit). */
export const V1_MAX_BYTES = 107;

/**
 * Encodes a header for a TCP connection from `source` to `destination`. Addresses of different
 * families are both written as IPv6 (an IPv4 address as `::ffff:a.b.c.d`); an address that is
 * not an IP (or a missing one) makes a v1 `UNKNOWN` / v2 `LOCAL` header, which tells the server
 * to use the connection's own addresses.
 */
export function encodeProxyHeader(version: ProxyVersion, source?: ProxyEndpoint, destination?: ProxyEndpoint): Buffer {
  const ends = source && destination ? sameFamily(source, destination) : undefined;
  if (version === 'v1') {
    if (!ends) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
    const [src, dst, family] = ends;
    return Buffer.from(`PROXY ${family === 'IPv4' ? 'TCP4' : 'TCP6'} ${src.address} ${dst.address} ${src.port} ${dst.port}\r\n`, 'latin1');
  }
  if (!ends) {
    const header = Buffer.alloc(16);
    V2_SIGNATURE.copy(header);
    header[12] = 0x20; // version 2, LOCAL
    header[13] = 0x00; // UNSPEC
    return header;
  }
  const [src, dst, family] = ends;
  const size = family === 'IPv4' ? 12 : 36;
  const header = Buffer.alloc(16 + size);
  V2_SIGNATURE.copy(header);
  header[12] = 0x21; // version 2, PROXY
  header[13] = family === 'IPv4' ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  header.writeUInt16BE(size, 14);
  const addressBytes = family === 'IPv4' ? ipv4Bytes : ipv6Bytes;
  const width = family === 'IPv4' ? 4 : 16;
  addressBytes(src.address).copy(header, 16);
  addressBytes(dst.address).copy(header, 16 + width);
  header.writeUInt16BE(src.port, 16 + 2 * width);
  header.writeUInt16BE(dst.port, 18 + 2 * width);
  return header;
}

/** Both ends in one family, or undefined when either is not an IP address with a port. */
function sameFamily(a: ProxyEndpoint, b: ProxyEndpoint): [ProxyEndpoint, ProxyEndpoint, 'IPv4' | 'IPv6'] | undefined {
  for (const end of [a, b]) {
    if (!Number.isInteger(end.port) || end.port < 0 || end.port > 65535) return undefined;
    if (!isIPv4(end.address) && !isIPv6(end.address)) return undefined;
  }
  if (isIPv4(a.address) && isIPv4(b.address)) return [a, b, 'IPv4'];
  const six = (end: ProxyEndpoint): ProxyEndpoint => (isIPv4(end.address) ? { address: `::ffff:${end.address}`, port: end.port } : end);
  return [six(a), six(b), 'IPv6'];
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** The 16 bytes of an IPv6 address in any textual form (`::`, an embedded IPv4 tail). */
export function ipv6Bytes(address: string): Buffer {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const out = Buffer.alloc(16);
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let v4: Buffer | undefined;
  if (tail) {
    v4 = ipv4Bytes(tail[1] as string);
    text = `${text.slice(0, -(tail[1] as string).length)}0:0`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? headGroups : [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  if (groups.length !== 8) throw new InvalidOptionError(`${JSON.stringify(address)} is not an IPv6 address`);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  if (v4) v4.copy(out, 12);
  return out;
}

/** The canonical text of 16 IPv6 bytes (RFC 5952: lowercase, longest zero run as `::`). */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`;
}
