// TCP loopback helpers for bench modules: a connected socket pair on 127.0.0.1 and a bounded
// teardown. Nothing here prints.
import net from 'node:net';
import { once } from 'node:events';

/**
 * A connected TCP pair on 127.0.0.1: `a` is the connecting side, `b` the accepted one. Both get
 * the same socket options (`highWaterMark` sets both directions' stream buffers).
 * @param {{ highWaterMark?: number }} [options]
 * @returns {Promise<{ a: net.Socket, b: net.Socket, close: () => Promise<void> }>}
 */
export async function socketPair(options = {}) {
  const server = net.createServer({ ...options, noDelay: false });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = /** @type {net.AddressInfo} */ (server.address());
  const accepted = once(server, 'connection');
  const a = net.connect({ port, host: '127.0.0.1', ...options });
  const [[b]] = await Promise.all([accepted, once(a, 'connect')]);
  // One connection per server: stop listening now; the pair stays up.
  const serverClosed = new Promise((resolve) => server.close(() => resolve()));
  return {
    a,
    b,
    close: async () => {
      a.destroy();
      b.destroy();
      await Promise.all([closed(a), closed(b), serverClosed]);
    },
  };
}

/** Resolves once `socket` has emitted 'close' (at once if it already has). */
export function closed(socket) {
  if (socket.closed) return Promise.resolve();
  return once(socket, 'close').then(
    () => {},
    () => {},
  );
}

/**
 * Waits for `promise`, but no longer than `ms`: a stuck transfer fails the module with a clear
 * message instead of hanging the run.
 */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
