/**
 * Reads the `Host:` of an HTTP/1.x request from the first bytes a visitor sends.
 *
 * The request line is checked byte by byte as it arrives, so that a visitor speaking something
 * else is told apart on its first bytes; the answer waits for the end of the head (`\r\n\r\n`),
 * since `Host:` may be the last header. The parse is strict where leniency would let two readers
 * of the same bytes disagree on the host (RFC 9112 §3.2, §5.2): bare LF, obsolete line folding,
 * a space before the colon, and a second `Host:` all make it `not-http`.
 *
 * Pure and total: any input gives an answer, nothing is thrown for bytes.
 */
import { hostnameAt } from './hostname.js';
import { resolveMaxBytes, type SniffOptions } from './options.js';

/** What the first bytes of a connection say about an HTTP/1.x request. */
export type HttpHostResult =
  /** Looks like an HTTP/1.x request so far, but its head has not ended yet. */
  | { readonly status: 'need-more' }
  /**
   * A complete, well-formed request head. `host` is the `Host:` header lowercased, without its
   * port or a trailing dot (`[v6]` literals keep their brackets), or `undefined` when there is
   * none, it is empty, or it is not a valid host name.
   */
  | { readonly status: 'http'; readonly host: string | undefined; readonly method: string; readonly path: string }
  /** Not an HTTP/1.x request, or one too malformed to route. */
  | { readonly status: 'not-http' }
  /** Could be a request, but its head does not end within `maxBytes`. */
  | { readonly status: 'too-large' };

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
/** The longest method we accept: real ones are short, and this bounds the first decision. */
const MAX_METHOD = 32;
const VERSION_PREFIX = [72, 84, 84, 80, 47, 49, 46]; // "HTTP/1."

const NEED_MORE: HttpHostResult = Object.freeze({ status: 'need-more' });
const NOT_HTTP: HttpHostResult = Object.freeze({ status: 'not-http' });
const TOO_LARGE: HttpHostResult = Object.freeze({ status: 'too-large' });

/** RFC 9110 §5.6.2 `tchar`, as a lookup table over bytes. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

const latin1 = new TextDecoder('latin1');

/**
 * Reads an HTTP/1.x request head from the start of `bytes` (everything the visitor has sent so
 * far). Call it again with more bytes while it answers `need-more`.
 *
 * @param options.maxBytes - the head, `\r\n\r\n` included, must end within this many bytes, or
 *   the answer is `too-large` (default 16 KiB). The answer does not depend on chunking.
 * @throws {InvalidOptionError} only for a bad option, never for any input bytes.
 */
export function readHttpHost(bytes: Uint8Array, options?: SniffOptions): HttpHostResult {
  const maxBytes = resolveMaxBytes(options);
  // Bytes past the cap are never looked at: the answer must not depend on chunking.
  const n = Math.min(bytes.length, maxBytes);
  const incomplete = bytes.length >= maxBytes ? TOO_LARGE : NEED_MORE;

  let p = 0;
  while (p < n && TCHAR[bytes[p] as number] === 1) {
    if (++p > MAX_METHOD) return NOT_HTTP;
  }
  if (p === n) return incomplete;
  if (p === 0 || bytes[p] !== SP) return NOT_HTTP;
  const methodEnd = p++;

  const pathStart = p;
  while (p < n && (bytes[p] as number) > SP && (bytes[p] as number) < 127) p++;
  if (p === n) return incomplete;
  if (p === pathStart || bytes[p] !== SP) return NOT_HTTP;
  const pathEnd = p++;

  for (const expected of VERSION_PREFIX) {
    if (p === n) return incomplete;
    if (bytes[p++] !== expected) return NOT_HTTP;
  }
  if (p === n) return incomplete;
  const minor = bytes[p++] as number;
  if (minor < 48 || minor > 57) return NOT_HTTP;
  const lineEnd = crlf(bytes, p, n);
  if (lineEnd <= 0) return lineEnd === 0 ? incomplete : NOT_HTTP;
  p = lineEnd;

  let hostStart = -1;
  let hostEnd = -1;
  for (;;) {
    if (p === n) return incomplete;
    if (bytes[p] === CR) {
      const headEnd = crlf(bytes, p, n);
      if (headEnd <= 0) return headEnd === 0 ? incomplete : NOT_HTTP;
      return {
        status: 'http',
        host: hostStart < 0 ? undefined : hostOf(bytes, hostStart, hostEnd),
        method: latin1.decode(bytes.subarray(0, methodEnd)),
        path: latin1.decode(bytes.subarray(pathStart, pathEnd)),
      };
    }
    // A field line: name, colon, value. A line starting with whitespace is obsolete folding.
    const nameStart = p;
    while (p < n && TCHAR[bytes[p] as number] === 1) p++;
    if (p === n) return incomplete;
    if (p === nameStart || bytes[p] !== COLON) return NOT_HTTP;
    const isHost = p - nameStart === 4 && isHostName(bytes, nameStart);
    p++;
    const valueStart = p;
    while (p < n && isFieldByte(bytes[p] as number)) p++;
    if (p === n) return incomplete;
    const valueEnd = p;
    const next = crlf(bytes, p, n);
    if (next <= 0) return next === 0 ? incomplete : NOT_HTTP;
    if (isHost) {
      // Two Host headers is the classic way to make a proxy and a server disagree.
      if (hostStart >= 0) return NOT_HTTP;
      hostStart = valueStart;
      hostEnd = valueEnd;
    }
    p = next;
  }
}

/** At `p` must be `\r\n`: the offset after it, 0 when the input ends first, -1 if it is not. */
function crlf(bytes: Uint8Array, p: number, n: number): number {
  if (p === n) return 0;
  if (bytes[p] !== CR) return -1;
  if (p + 1 === n) return 0;
  return bytes[p + 1] === LF ? p + 2 : -1;
}

/** RFC 9110 §5.5 field-vchar, SP, HTAB and obs-text: everything but controls and DEL. */
function isFieldByte(c: number): boolean {
  return c === HTAB || (c >= SP && c !== 127);
}

function isHostName(bytes: Uint8Array, at: number): boolean {
  return (
    ((bytes[at] as number) | 0x20) === 104 &&
    ((bytes[at + 1] as number) | 0x20) === 111 &&
    ((bytes[at + 2] as number) | 0x20) === 115 &&
    ((bytes[at + 3] as number) | 0x20) === 116
  );
}

/** RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, trimmed of optional whitespace. */
function hostOf(bytes: Uint8Array, from: number, to: number): string | undefined {
  while (from < to && isWhitespace(bytes[from] as number)) from++;
  while (to > from && isWhitespace(bytes[to - 1] as number)) to--;
  if (from === to) return undefined;
  if (bytes[from] === 91 /* [ */) return ipLiteralOf(bytes, from, to);
  let hostEnd = from;
  while (hostEnd < to && bytes[hostEnd] !== COLON) hostEnd++;
  if (!isPort(bytes, hostEnd, to)) return undefined;
  // `example.com.` is the same name as `example.com`; route them alike.
  if (hostEnd > from && bytes[hostEnd - 1] === 46) hostEnd--;
  return hostnameAt(bytes, from, hostEnd);
}

/** `[` IPv6 or IPvFuture `]` with an optional port; the brackets stay, lowercased. */
function ipLiteralOf(bytes: Uint8Array, from: number, to: number): string | undefined {
  let p = from + 1;
  let out = '[';
  for (; p < to && bytes[p] !== 93 /* ] */; p++) {
    const c = bytes[p] as number;
    const lower = c >= 65 && c <= 90 ? c + 32 : c;
    const ok = (lower >= 48 && lower <= 58) || (lower >= 97 && lower <= 102) || lower === 46;
    if (!ok) return undefined;
    out += String.fromCharCode(lower);
  }
  if (p === to || p === from + 1) return undefined;
  return isPort(bytes, p + 1, to) ? `${out}]` : undefined;
}

/** Nothing, or `:` and decimal digits (RFC 9110 allows an empty port). */
function isPort(bytes: Uint8Array, from: number, to: number): boolean {
  if (from === to) return true;
  if (bytes[from] !== COLON || to - from > 6) return false;
  for (let i = from + 1; i < to; i++) {
    const c = bytes[i] as number;
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isWhitespace(c: number): boolean {
  return c === SP || c === HTAB;
}
