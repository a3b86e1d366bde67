import type { Client } from '../rx/client.js';
import type { OpenClientMeta } from '../rx/tunnel.js';

/**
 * Opens a client on `tunnel` for a visitor. A tunnel knows a client by the visitor's family,
 * address and port, and one device's tunnel carries the visitors of every port it is reached on
 * (the visitor port, each claimed TCP port) and, in a cluster, of every node: the same address
 * and port can be two visitors at once (Linux gives one source port to connections to
 * different destinations, on loopback as well; a NAT may map one source port to every
 * destination). The later one is then opened with the next free port number rather than
 * refused: its address, what a service logs, is kept.
 */
export function openUnique(open: (meta: OpenClientMeta) => Client, meta: OpenClientMeta): Client {
  for (let attempt = 0; ; attempt++) {
    try {
      return open(attempt === 0 || meta.port === null ? meta : { ...meta, port: ((meta.port + attempt - 1) % 65535) + 1 });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'E_CLIENT_EXISTS' || attempt >= 64 || meta.port === null) throw error;
    }
  }
}
