/**
 * TLS termination for a visitor whose bytes arrive as a stream (a tunnel client, not a
 * listening socket): the certificate is picked by name before the handshake, an ACME
 * tls-alpn-01 validation (ALPN `acme-tls/1`) gets its challenge certificate, and a name with
 * no certificate yet gets a TLS alert at once instead of a hang.
 */
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import { readClientHello } from '../sniff/client-hello.js';

/** ACME tls-alpn-01's protocol (RFC 8737). */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** A fatal `unrecognized_name` alert (TLS 1.2 record framing, which every client reads). */
const NO_CERTIFICATE_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);
/** Bytes read at most to find ALPN in a ClientHello. */
const HELLO_LIMIT = 16 * 1024;

/** What a name is served with. */
export interface TerminationChoice {
  /** The certificate, or `undefined` if the name has none (the visitor gets an alert). */
  readonly context: SecureContext | undefined;
  /** ALPN protocols offered, server's preference first. */
  readonly alpn?: readonly string[];
}

/**
 * Completes a TLS handshake over `stream` as a server. `challenge` is the tls-alpn-01
 * certificate pending for the name, if any: only then is the ClientHello read first to see
 * whether this is the CA's validation. Calls `onSecure` with the decrypted socket; a
 * validation's socket is handled here (the CA only looks at the certificate).
 */
export function terminate(
  stream: Duplex,
  choice: TerminationChoice,
  challenge: SecureContext | undefined,
  onSecure: (socket: TLSSocket) => void,
): void {
  // A visitor that goes away mid-handshake is no failure of this process.
  stream.on('error', () => stream.destroy());
  if (!challenge) {
    start(stream, choice, onSecure);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    const head = Buffer.concat(chunks);
    const hello = readClientHello(head, { maxBytes: HELLO_LIMIT });
    if (hello.status === 'need-more' && size < HELLO_LIMIT) return;
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.pause();
    stream.unshift(head);
    if (hello.status === 'tls' && hello.alpn?.includes(ACME_TLS_ALPN)) {
      start(stream, { context: challenge, alpn: [ACME_TLS_ALPN] }, (socket) => socket.end());
    } else {
      start(stream, choice, onSecure);
    }
  };
  const onEnd = (): void => void stream.destroy();
  stream.on('data', onData);
  stream.on('end', onEnd);
  // A relay's visitor socket comes paused from routing.
  stream.resume();
}

function start(stream: Duplex, choice: TerminationChoice, onSecure: (socket: TLSSocket) => void): void {
  if (!choice.context) {
    stream.on('error', () => undefined);
    stream.end(NO_CERTIFICATE_ALERT);
    return;
  }
  const socket = new TLSSocket(stream, {
    isServer: true,
    secureContext: choice.context,
    ALPNProtocols: choice.alpn ? [...choice.alpn] : undefined,
  });
  socket.on('error', () => socket.destroy());
  socket.once('secure', () => {
    // What a tls.Server does for its sockets at this point; HTTP/2 waits for it otherwise.
    (socket as { secureConnecting?: boolean }).secureConnecting = false;
    onSecure(socket);
  });
}
