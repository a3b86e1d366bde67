import type { Socket } from 'node:net';
import { decodeProxyHeader } from './decode.js';
import { ProxyProtocolError } from './errors.js';
import type { ProxyHeader } from './header.js';

/**
 * Reads the PROXY header a trusted load balancer puts in front of a connection. The socket is
 * left paused with what followed the header put back (`unshift`), for its next reader.
 * Rejects with a {@link ProxyProtocolError}: the decoder's codes, `E_PROXY_TRUNCATED` when the
 * connection ends inside the header, `E_PROXY_TIMEOUT` when it does not complete in time.
 */
export function readProxyHeader(socket: Socket, options: { timeout: number; maxBytes?: number }): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, header?: ProxyHeader, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (rest && rest.length > 0) socket.unshift(rest);
      if (error) reject(error);
      else resolve(header as ProxyHeader);
    };
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      try {
        const result = decodeProxyHeader(head, options.maxBytes);
        if (result.status === 'done') finish(undefined, result.header, head.subarray(result.length));
      } catch (error) {
        finish(error as Error);
      }
    };
    const onEnd = (): void =>
      finish(new ProxyProtocolError('E_PROXY_TRUNCATED', `the connection ended inside its PROXY header (${head.length} bytes)`));
    const timer = setTimeout(
      () => finish(new ProxyProtocolError('E_PROXY_TIMEOUT', `no complete PROXY header within ${options.timeout} ms`)),
      options.timeout,
    );
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.resume();
  });
}
