import type { Client } from '../rx/client.js';
import type { OpenClientMeta } from '../rx/tunnel.js';

/**
 * Opens a client on `tunnel` for a visitor. A tunnel knows a client by the visitor's family,
 * address and port, and in a cluster one device's tunnel carries the visitors of every node: the
 * same address and port can come through two nodes at once (a client behind a NAT that maps one
 * source port to every destination; on loopback, Linux does the same). The later one is then
 * opened with the next free port number rather than refused: its address, what a service
 * logs, is kept.
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
