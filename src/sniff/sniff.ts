/**
 * Tells what protocol a visitor speaks from its first bytes, and the name it asks for: what a
 * relay needs to route a connection it does not terminate.
 */
import { readClientHello } from './client-hello.js';
import { readHttpHost } from './http-host.js';
import { resolveMaxBytes, type SniffOptions } from './options.js';

/** What the first bytes of a connection are. */
export type SniffResult =
  /** Not decided yet: wait for more bytes and ask again. `needed` as in `readClientHello`. */
  | { readonly status: 'need-more'; readonly needed?: number }
  /** A TLS ClientHello; `name` is its SNI (lowercased), `undefined` without a usable one. */
  | { readonly status: 'tls'; readonly name: string | undefined }
  /** An HTTP/1.x request head; `name` is its `Host:` (lowercased, no port), if usable. */
  | { readonly status: 'http'; readonly name: string | undefined; readonly method: string; readonly path: string }
  /** Neither TLS nor HTTP/1.x: route by port, or refuse. */
  | { readonly status: 'unknown' }
  /** A ClientHello or request head that does not end within `maxBytes`. */
  | { readonly status: 'too-large'; readonly protocol: 'tls' | 'http' };

const NEED_MORE: SniffResult = Object.freeze({ status: 'need-more' });
const UNKNOWN: SniffResult = Object.freeze({ status: 'unknown' });
const CONTENT_HANDSHAKE = 0x16;

/**
 * Sniffs the bytes a visitor has sent so far (from the first one). The first byte picks the
 * reader: `0x16` can only start a TLS record, and no HTTP method starts with it.
 *
 * @param options.maxBytes - cap on the ClientHello or request head (default 16 KiB).
 * @throws {InvalidOptionError} only for a bad option, never for any input bytes.
 */
export function sniffProtocol(bytes: Uint8Array, options?: SniffOptions): SniffResult {
  if (bytes.length === 0) {
    // Validated even here, so that a bad option fails on the first call, not on a later one.
    resolveMaxBytes(options);
    return NEED_MORE;
  }
  if (bytes[0] === CONTENT_HANDSHAKE) {
    const hello = readClientHello(bytes, options);
    switch (hello.status) {
      case 'tls':
        return { status: 'tls', name: hello.serverName };
      case 'not-tls':
        return UNKNOWN;
      case 'too-large':
        return { status: 'too-large', protocol: 'tls' };
      default:
        return hello;
    }
  }
  const request = readHttpHost(bytes, options);
  switch (request.status) {
    case 'http':
      return { status: 'http', name: request.host, method: request.method, path: request.path };
    case 'not-http':
      return UNKNOWN;
    case 'too-large':
      return { status: 'too-large', protocol: 'http' };
    default:
      return NEED_MORE;
  }
}
