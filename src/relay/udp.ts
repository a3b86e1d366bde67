import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { Subscription } from 'rxjs';
import { addrToId } from '../codec/frame.js';
import type { Client } from '../rx/client.js';
import type { OpenClientMeta } from '../rx/tunnel.js';

/** Opens a client toward a device for a new UDP visitor, or undefined when none serves. */
export type UdpOpener = (meta: OpenClientMeta) => Client | undefined;

/**
 * A relay-side UDP port: each remote address/port is one client; each datagram is one data
 * frame each way. Idle visitors are forgotten after `idleTimeout` ms.
 */
export class UdpPort {
  readonly #socket: UdpSocket;
  readonly #visitors = new Map<string, Visitor>();
  readonly #port: number;
  #closed = false;

  private constructor(socket: UdpSocket, port: number, open: UdpOpener, idleTimeout: number) {
    this.#socket = socket;
    this.#port = port;
    socket.on('message', (datagram, rinfo) => this.#receive(datagram, rinfo, open, idleTimeout));
  }

  /** Binds `host:port` and resolves once bound. */
  static bind(host: string, port: number, open: UdpOpener, idleTimeout: number): Promise<UdpPort> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(new UdpPort(socket, socket.address().port, open, idleTimeout));
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const visitor of this.#visitors.values()) {
      clearTimeout(visitor.timer);
      visitor.replies.unsubscribe();
      visitor.client.end();
    }
    this.#visitors.clear();
    this.#socket.close();
  }

  #receive(datagram: Buffer, rinfo: RemoteInfo, open: UdpOpener, idleTimeout: number): void {
    if (this.#closed) return;
    const key = addrToId(rinfo);
    let visitor = this.#visitors.get(key);
    if (!visitor) {
      const client = open({ family: rinfo.family, address: rinfo.address, port: rinfo.port, service: 'udp', serviceport: this.#port });
      if (!client) return;
      const entry: Visitor = { client, timer: undefined, replies: new Subscription() };
      this.#visitors.set(key, entry);
      visitor = entry;
      entry.replies = client.data$.subscribe({
        // A reply already in flight may arrive after the port was released: drop it.
        next: (reply) => {
          if (!this.#closed) this.#socket.send(reply, rinfo.port, rinfo.address);
        },
        // The device ended the flow: end ours too, so the next datagram opens a new client.
        complete: () => this.#forget(key, client, true),
        error: () => this.#forget(key, client, false),
      });
    }
    const entry = visitor;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.#forget(key, entry.client, true), idleTimeout);
    entry.timer.unref();
    // A datagram the tunnel cannot take now is dropped, as a congested network drops it: queued,
    // a flood into a full tunnel would grow without bound.
    if (entry.client.writable) entry.client.write(datagram);
  }

  #forget(key: string, client: Client, end: boolean): void {
    const entry = this.#visitors.get(key);
    if (entry?.client !== client) return;
    clearTimeout(entry.timer);
    entry.replies.unsubscribe();
    this.#visitors.delete(key);
    if (end) client.end();
  }
}

interface Visitor {
  readonly client: Client;
  timer: NodeJS.Timeout | undefined;
  replies: Subscription;
}
