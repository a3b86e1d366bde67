import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Client } from '../rx/client.js';

/**
 * Joins a UDP client of the tunnel to a local UDP service: each data frame is one datagram
 * each way. The client ends after `idleTimeout` ms without traffic, or when the remote ends it.
 */
export function forwardUdp(client: Client, target: { host: string; port: number }, idleTimeout: number): void {
  const socket: UdpSocket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    socket.close();
  };
  const touch = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      close();
      client.end();
    }, idleTimeout);
    timer.unref();
  };
  const pending: Uint8Array[] = [];
  let connected = false;
  // Node calls this with the error when the lookup or the connect fails (and emits no 'error'):
  // sending on the unconnected socket then would throw out of this callback.
  socket.connect(target.port, target.host, (error?: Error) => {
    if (closed) return;
    if (error) {
      close();
      client.destroy(error);
      return;
    }
    connected = true;
    for (const datagram of pending.splice(0)) socket.send(datagram);
  });
  socket.on('message', (datagram) => {
    touch();
    // Dropped when the tunnel cannot take it now (see the relay's UDP ports).
    if (client.writable) client.write(datagram);
  });
  socket.on('error', (error) => {
    close();
    client.destroy(error);
  });
  touch();
  client.data$.subscribe({
    next(datagram) {
      if (closed) return;
      touch();
      // Datagrams sent before connect() completes would fail: hold them until then.
      if (connected) socket.send(datagram);
      else pending.push(datagram);
    },
    complete() {
      close();
      client.end();
    },
    error() {
      close();
    },
  });
}
