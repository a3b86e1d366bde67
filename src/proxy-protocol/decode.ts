import { isIPv4, isIPv6 } from 'node:net';
import { ProxyProtocolError } from './errors.js';
import { V1_MAX_BYTES, V1_PREFIX, V2_SIGNATURE, ipv6Bytes, ipv6Text, type ProxyEndpoint, type ProxyHeader } from './header.js';

/** The most bytes a v2 header may take by default (address block and TLVs included). */
export const DEFAULT_PROXY_MAX_BYTES = 1024;

/** What {@link decodeProxyHeader} made of the bytes so far. */
export type ProxyDecodeResult =
  | { readonly status: 'need-more' }
  | { readonly status: 'done'; readonly header: ProxyHeader; /** Bytes the header took; what follows is the connection's. */ readonly length: number };

/**
 * Reads a PROXY header (v1 or v2) at the start of `bytes`, strictly: anything that is not a
 * header as the specification writes it fails at the first byte that shows it, rather than
 * after waiting for more.
 *
 * @throws {ProxyProtocolError} `E_PROXY_SIGNATURE` when the bytes start with neither version's
 * signature, `E_PROXY_TOO_LONG` past 107 bytes (v1) or `maxBytes` (v2), `E_PROXY_MALFORMED`
 * for a header that breaks the format.
 */
export function decodeProxyHeader(bytes: Uint8Array, maxBytes = DEFAULT_PROXY_MAX_BYTES): ProxyDecodeResult {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (startsLike(buffer, V2_SIGNATURE)) return buffer.length < V2_SIGNATURE.length ? { status: 'need-more' } : decodeV2(buffer, maxBytes);
  if (startsLike(buffer, V1_PREFIX)) return buffer.length < V1_PREFIX.length ? { status: 'need-more' } : decodeV1(buffer);
  throw new ProxyProtocolError('E_PROXY_SIGNATURE', 'the connection does not start with a PROXY protocol signature');
}

/** Whether `bytes` could be the start of something that begins with `prefix` (or the other way round). */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return n > 0 && bytes.compare(prefix, 0, n, 0, n) === 0;
}

/** Whether `bytes` start like a PROXY header of either version (for spotting one sent by an untrusted source). */
export function looksLikeProxyHeader(bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (buffer.length >= 5 && startsLike(buffer, V1_PREFIX)) || (buffer.length >= 6 && startsLike(buffer, V2_SIGNATURE));
}

function decodeV1(buffer: Buffer): ProxyDecodeResult {
  const scan = Math.min(buffer.length, V1_MAX_BYTES);
  let end = -1;
  for (let i = V1_PREFIX.length; i < scan; i++) {
    const byte = buffer[i] as number;
    if (byte === 0x0d) {
      if (i + 1 >= buffer.length) return { status: 'need-more' };
      if (buffer[i + 1] !== 0x0a) throw malformed('v1: a CR not followed by LF');
      end = i;
      break;
    }
    // Printable ASCII only: a v1 line is text.
    if (byte < 0x20 || byte > 0x7e) throw malformed('v1: a byte that is not printable ASCII');
  }
  if (end < 0) {
    if (buffer.length >= V1_MAX_BYTES) throw new ProxyProtocolError('E_PROXY_TOO_LONG', `v1: no CRLF within ${V1_MAX_BYTES} bytes`);
    return { status: 'need-more' };
  }
  const fields = buffer.toString('latin1', V1_PREFIX.length, end).split(' ');
  const length = end + 2;
  const protocol = fields[0];
  if (protocol === 'UNKNOWN') return { status: 'done', header: { version: 1, command: 'local', family: 'unspec', transport: 'unspec' }, length };
  if ((protocol !== 'TCP4' && protocol !== 'TCP6') || fields.length !== 5) throw malformed('v1: expected TCP4|TCP6 SRC DST SPORT DPORT');
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const valid = family === 'IPv4' ? isIPv4 : (text: string) => isIPv6(text) && !text.includes('%');
  const [, src, dst, sport, dport] = fields as [string, string, string, string, string];
  if (!valid(src) || !valid(dst)) throw malformed(`v1: an address that is not ${family}`);
  const header: ProxyHeader = {
    version: 1,
    command: 'proxy',
    family,
    transport: 'tcp',
    source: { address: family === 'IPv6' ? ipv6Text(ipv6Bytes(src)) : src, port: v1Port(sport) },
    destination: { address: family === 'IPv6' ? ipv6Text(ipv6Bytes(dst)) : dst, port: v1Port(dport) },
  };
  return { status: 'done', header, length };
}

function v1Port(text: string): number {
  // Decimal, no sign, no leading zero: the specification's form, and no other.
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) throw malformed(`v1: ${JSON.stringify(text)} is not a port`);
  return Number(text);
}

function decodeV2(buffer: Buffer, maxBytes: number): ProxyDecodeResult {
  if (buffer.length < 16) {
    if (buffer.length > 12) checkVersionAndFamily(buffer);
    return { status: 'need-more' };
  }
  const { command, family, transport } = checkVersionAndFamily(buffer);
  const size = buffer.readUInt16BE(14);
  const length = 16 + size;
  if (length > maxBytes) throw new ProxyProtocolError('E_PROXY_TOO_LONG', `v2: a ${length}-byte header, more than ${maxBytes}`);
  const needed = family === 0x1 ? 12 : family === 0x2 ? 36 : family === 0x3 ? 216 : 0;
  if (size < needed) throw malformed(`v2: ${size} address bytes, fewer than the family takes (${needed})`);
  if (buffer.length < length) return { status: 'need-more' };
  const kind = transport === 0x1 ? 'tcp' : transport === 0x2 ? 'udp' : 'unspec';
  // LOCAL, or a family without IP addresses: the receiver keeps the connection's own addresses.
  if (command === 0x0 || (family !== 0x1 && family !== 0x2)) {
    return { status: 'done', header: { version: 2, command: command === 0x0 ? 'local' : 'proxy', family: 'unspec', transport: kind }, length };
  }
  if (transport === 0x0) throw malformed('v2: PROXY over an unspecified transport');
  const width = family === 0x1 ? 4 : 16;
  const text = (at: number): string =>
    width === 4 ? Array.from(buffer.subarray(at, at + 4)).join('.') : ipv6Text(buffer.subarray(at, at + 16));
  const source: ProxyEndpoint = { address: text(16), port: buffer.readUInt16BE(16 + 2 * width) };
  const destination: ProxyEndpoint = { address: text(16 + width), port: buffer.readUInt16BE(18 + 2 * width) };
  return { status: 'done', header: { version: 2, command: 'proxy', family: width === 4 ? 'IPv4' : 'IPv6', transport: kind, source, destination }, length };
}

function checkVersionAndFamily(buffer: Buffer): { command: number; family: number; transport: number } {
  const versionCommand = buffer[12] as number;
  if (versionCommand >> 4 !== 0x2) throw malformed(`v2: version ${versionCommand >> 4}, not 2`);
  const command = versionCommand & 0x0f;
  if (command > 0x1) throw malformed(`v2: unknown command ${command}`);
  if (buffer.length < 14) return { command, family: 0, transport: 0 };
  const familyTransport = buffer[13] as number;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > 0x3 || transport > 0x2) throw malformed(`v2: unknown address family/transport byte 0x${familyTransport.toString(16)}`);
  return { command, family, transport };
}

function malformed(reason: string): ProxyProtocolError {
  return new ProxyProtocolError('E_PROXY_MALFORMED', `malformed PROXY header (${reason})`);
}
