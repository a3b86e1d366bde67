import type { Socket } from 'node:net';
import { sniffProtocol } from '../sniff/index.js';

/** What the first bytes of a visitor said. */
export type SniffOutcome =
  | { readonly kind: 'tls' | 'http'; readonly name: string; readonly head: Buffer }
  | { readonly kind: 'refused'; readonly code: 'E_INVALID_PROTOCOL' | 'E_SNIFF_TIMEOUT'; readonly reason: string; readonly head?: Buffer };

/**
 * Reads a visitor's first bytes until they tell TLS (with SNI) or HTTP (with Host), waiting for
 * a ClientHello split over several segments, within a time and size cap. The socket is left
 * paused with nothing consumed but `head`, which the caller forwards first.
 */
export function sniffVisitor(socket: Socket, options: { timeout: number; maxBytes: number }): Promise<SniffOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (outcome: SniffOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const result = sniffProtocol(head, { maxBytes: options.maxBytes });
      switch (result.status) {
        case 'need-more':
          return;
        case 'tls':
        case 'http':
          finish({ kind: result.status, name: result.name ?? '', head });
          return;
        case 'too-large':
          finish({ kind: 'refused', code: 'E_INVALID_PROTOCOL', reason: `first ${options.maxBytes} bytes did not complete a ${result.protocol} head`, head });
          return;
        default:
          finish({ kind: 'refused', code: 'E_INVALID_PROTOCOL', reason: 'neither TLS nor HTTP', head });
      }
    };
    const onEnd = (): void => finish({ kind: 'refused', code: 'E_INVALID_PROTOCOL', reason: 'closed before sending a request' });
    const timer = setTimeout(
      () => finish({ kind: 'refused', code: 'E_SNIFF_TIMEOUT', reason: `nothing routable within ${options.timeout} ms` }),
      options.timeout,
    );
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    // Accepted paused (pauseOnConnect), so that no byte is read before a listener is attached.
    socket.resume();
  });
}
