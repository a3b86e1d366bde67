/**
 * Reads the server name (SNI) out of the first bytes a TLS visitor sends, without terminating
 * TLS. The ClientHello is one handshake message that the client may cut into several TLS
 * records, themselves cut anywhere by TCP: the reader walks the records, gathers the message's
 * bytes, and decides only once the whole message is there (telebit misrouted split hellos by
 * reading only the first chunk).
 *
 * Pure and total: any input gives an answer, nothing is thrown for bytes, and no byte is copied
 * unless the message spans records.
 */
import { hostnameAt } from './hostname.js';
import { resolveMaxBytes, type SniffOptions } from './options.js';

/** What the first bytes of a connection say about a TLS ClientHello. */
export type ClientHelloResult =
  /**
   * Looks like TLS so far, but the ClientHello is not complete. `needed` is a lower bound on
   * how many more bytes must arrive before it can be: asking again sooner cannot succeed.
   */
  | { readonly status: 'need-more'; readonly needed?: number }
  /**
   * A complete, well-formed ClientHello. `serverName` is its SNI host name, lowercased, or
   * `undefined` when it sent none or sent one that is not a valid host name (a trailing dot, an
   * empty label, a character outside `[A-Za-z0-9._-]`, such as an IPv6 literal).
   */
  | {
      readonly status: 'tls';
      readonly serverName: string | undefined;
      /**
       * The protocols of its ALPN extension, in the client's order; absent when it sent none or
       * one that does not parse (routing never depends on it: a device uses it to tell an ACME
       * `acme-tls/1` validation from a visitor).
       */
      readonly alpn?: readonly string[];
    }
  /** Not a TLS ClientHello: another protocol, or a TLS stream too malformed to route. */
  | { readonly status: 'not-tls' }
  /** Could be a ClientHello, but it does not end within `maxBytes`. */
  | { readonly status: 'too-large' };

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD = 1 << 14;
/** msg_type (1) + length (3). */
const HANDSHAKE_HEADER = 4;
/**
 * The smallest ClientHello body: version (2), random (32), empty session id (1), one cipher
 * suite (2 + 2), the null compression method (1 + 1), no extensions.
 */
const MIN_HELLO_BODY = 2 + 32 + 1 + 2 + 2 + 1 + 1;
const MAX_SESSION_ID = 32;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const NAME_TYPE_HOST = 0;

const NOT_TLS: ClientHelloResult = Object.freeze({ status: 'not-tls' });
const TOO_LARGE: ClientHelloResult = Object.freeze({ status: 'too-large' });
/** A malformed server_name extension, told apart from "no usable name" (`undefined`). */
const MALFORMED = null;

/**
 * Reads a TLS ClientHello from the start of `bytes` (everything the visitor has sent so far).
 * Call it again with more bytes while it answers `need-more`.
 *
 * @param options.maxBytes - the ClientHello must end within this many bytes, or the answer is
 *   `too-large` (default 16 KiB). The answer does not depend on how the bytes were chunked.
 * @throws {InvalidOptionError} only for a bad option, never for any input bytes.
 */
export function readClientHello(bytes: Uint8Array, options?: SniffOptions): ClientHelloResult {
  const maxBytes = resolveMaxBytes(options);
  // Bytes past the cap are never looked at, so the answer is the same whether they came in
  // one piece or in many (a caller feeding chunks gets `too-large` before seeing them).
  const length = Math.min(bytes.length, maxBytes);
  // [start, end) pairs of the handshake message's bytes, one pair per record read so far.
  const fragments: number[] = [];
  let have = 0;
  // HANDSHAKE_HEADER + body length, once the handshake header has arrived.
  let total = -1;
  let pos = 0;

  for (;;) {
    const available = length - pos;
    // Each byte of a record header is checked as soon as it arrives, so that a visitor that
    // is not speaking TLS is told apart on its first byte or two, not after five.
    if (available > 0 && bytes[pos] !== CONTENT_HANDSHAKE) return NOT_TLS;
    if (available > 1 && bytes[pos + 1] !== 3) return NOT_TLS;
    if (available > 2 && (bytes[pos + 2] as number) > 4) return NOT_TLS;
    if (available < RECORD_HEADER) {
      return waitUntil(pos + RECORD_HEADER + missing(have, total), length, maxBytes);
    }
    const recordLength = ((bytes[pos + 3] as number) << 8) | (bytes[pos + 4] as number);
    // Empty handshake records are forbidden (RFC 8446 §5.1) and would let a peer stall us.
    if (recordLength === 0 || recordLength > MAX_RECORD) return NOT_TLS;
    const start = pos + RECORD_HEADER;
    const recordEnd = start + recordLength;
    const end = Math.min(recordEnd, length);
    if (end > start) {
      fragments.push(start, end);
      have += end - start;
    }

    if (have > 0 && byteAt(bytes, fragments, 0) !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
    if (total < 0 && have >= HANDSHAKE_HEADER) {
      const bodyLength =
        (byteAt(bytes, fragments, 1) << 16) | (byteAt(bytes, fragments, 2) << 8) | byteAt(bytes, fragments, 3);
      if (bodyLength < MIN_HELLO_BODY) return NOT_TLS;
      total = HANDSHAKE_HEADER + bodyLength;
    }

    if (total >= 0 && have >= total) {
      return parseHello(handshakeBody(bytes, fragments, total));
    }
    if (recordEnd > length) {
      const rest = missing(have, total);
      const inRecord = recordEnd - length;
      const bound = rest <= inRecord ? length + rest : recordEnd + RECORD_HEADER + (rest - inRecord);
      return waitUntil(bound, length, maxBytes);
    }
    pos = recordEnd;
  }
}

/** Handshake bytes still missing: a lower bound while the handshake header is incomplete. */
function missing(have: number, total: number): number {
  return (total >= 0 ? total : HANDSHAKE_HEADER + MIN_HELLO_BODY) - have;
}

function waitUntil(bound: number, length: number, maxBytes: number): ClientHelloResult {
  return bound > maxBytes ? TOO_LARGE : { status: 'need-more', needed: bound - length };
}

/** The `index`-th byte of the handshake message, found through its fragments. */
function byteAt(bytes: Uint8Array, fragments: readonly number[], index: number): number {
  let rest = index;
  for (let i = 0; i < fragments.length; i += 2) {
    const start = fragments[i] as number;
    const size = (fragments[i + 1] as number) - start;
    if (rest < size) return bytes[start + rest] as number;
    rest -= size;
  }
  return -1;
}

/** The ClientHello body: a view when it lies in one record, else its fragments joined. */
function handshakeBody(bytes: Uint8Array, fragments: readonly number[], total: number): Uint8Array {
  const first = fragments[0] as number;
  if ((fragments[1] as number) - first >= total) return bytes.subarray(first + HANDSHAKE_HEADER, first + total);
  const joined = new Uint8Array(total);
  let filled = 0;
  for (let i = 0; i < fragments.length && filled < total; i += 2) {
    const start = fragments[i] as number;
    const take = Math.min((fragments[i + 1] as number) - start, total - filled);
    joined.set(bytes.subarray(start, start + take), filled);
    filled += take;
  }
  return joined.subarray(HANDSHAKE_HEADER);
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

/** RFC 8446 §4.1.2 (and 5246 §7.4.1.2, which has the same layout). */
function parseHello(b: Uint8Array): ClientHelloResult {
  const n = b.length;
  if (b[0] !== 3) return NOT_TLS;
  let p = 2 + 32;
  const sessionId = b[p] as number;
  if (sessionId > MAX_SESSION_ID) return NOT_TLS;
  p += 1 + sessionId;
  if (p + 2 > n) return NOT_TLS;
  const suites = u16(b, p);
  if (suites < 2 || (suites & 1) !== 0) return NOT_TLS;
  p += 2 + suites;
  if (p + 1 > n) return NOT_TLS;
  const compressions = b[p] as number;
  if (compressions < 1) return NOT_TLS;
  p += 1 + compressions;
  if (p > n) return NOT_TLS;
  // A hello without extensions (SSL 3.0 style) is valid and has no SNI.
  if (p === n) return { status: 'tls', serverName: undefined };
  if (p + 2 > n) return NOT_TLS;
  const extensionsEnd = p + 2 + u16(b, p);
  if (extensionsEnd !== n) return NOT_TLS;
  p += 2;

  let serverName: string | undefined;
  let alpn: string[] | undefined;
  // RFC 8446 §4.2: an extension type appears at most once. Two server_name extensions would
  // let two readers of the same hello route it to two different names.
  const seen = new Set<number>();
  while (p < n) {
    if (p + 4 > n) return NOT_TLS;
    const type = u16(b, p);
    const size = u16(b, p + 2);
    p += 4;
    if (p + size > n || seen.has(type)) return NOT_TLS;
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const name = readServerName(b, p, p + size);
      if (name === MALFORMED) return NOT_TLS;
      serverName = name;
    } else if (type === EXT_ALPN) {
      alpn = readAlpn(b, p, p + size);
    }
    p += size;
  }
  return alpn ? { status: 'tls', serverName, alpn } : { status: 'tls', serverName };
}

/** RFC 6066 §3: `ServerNameList`, of which we take the one `host_name`. */
function readServerName(b: Uint8Array, from: number, to: number): string | undefined | typeof MALFORMED {
  if (to - from < 2) return MALFORMED;
  const listEnd = from + 2 + u16(b, from);
  if (listEnd !== to || listEnd === from + 2) return MALFORMED;
  let p = from + 2;
  let name: string | undefined;
  let hasHostName = false;
  while (p < to) {
    if (p + 3 > to) return MALFORMED;
    const type = b[p] as number;
    const size = u16(b, p + 1);
    p += 3;
    if (p + size > to) return MALFORMED;
    if (type === NAME_TYPE_HOST) {
      // "MUST NOT contain more than one name of the same name_type".
      if (hasHostName) return MALFORMED;
      hasHostName = true;
      name = hostnameAt(b, p, p + size);
    }
    p += size;
  }
  return name;
}

/** RFC 7301 §3.1: `ProtocolNameList`; `undefined` when it does not parse. */
function readAlpn(b: Uint8Array, from: number, to: number): string[] | undefined {
  if (to - from < 2 || from + 2 + u16(b, from) !== to) return undefined;
  const names: string[] = [];
  let p = from + 2;
  while (p < to) {
    const size = b[p] as number;
    if (size === 0 || p + 1 + size > to) return undefined;
    names.push(String.fromCharCode(...b.subarray(p + 1, p + 1 + size)));
    p += 1 + size;
  }
  return names;
}
