// End-to-end paths for bench/e2e.mjs: local services, the three ways of carrying a visitor to
// them (mproxy relay + device, plain node:net pipes, the `multiplex` package), and visitors.
// Everything listens on 127.0.0.1 and is torn down by the `close()` it comes with.
//
// The three paths have the same hops:
//
//   visitor ──TCP──▶ relay ──one connection per path, see below──▶ device ──TCP──▶ local service
//
//   mproxy     createRelay (a claimed TCP port, or the public port routing TLS by SNI) and
//              createDevice; relay ↔ device is the device's WebSocket, M-PROXY frames in it,
//              every visitor multiplexed over it.
//   pipes      a node:net server ("relay") that, per visitor, connects to a node:net server
//              ("device") that connects to the local service; `a.pipe(b).pipe(a)` at each
//              hop. One relay ↔ device connection per visitor, no framing.
//   multiplex  the same two servers, but relay ↔ device is one TCP connection carrying a
//              `multiplex` (v6) stream per visitor; each end pipes its stream to the socket.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import { createDevice, createRelay, issueToken } from '../../dist/index.js';
import { selfSignedCertificate } from '../../test/support/certificate.mjs';
import { join } from './pipe-join.mjs';

const require = createRequire(import.meta.url);

export const SECRET = 'e2e-bench-secret-of-32-bytes-or-more';
export const NAME = 'app.localhost';
const HOST = '127.0.0.1';

/** A self-signed EC certificate for NAME (what the local TLS service presents), with its fingerprint. */
export async function makeCertificate() {
  const pems = await selfSignedCertificate(NAME);
  return { ...pems, fingerprint256: new X509Certificate(pems.cert).fingerprint256 };
}

/**
 * Listens on 127.0.0.1:0. `close()` destroys every connection the server accepted and closes it.
 * @returns {Promise<{ port: number, server: net.Server, sockets: Set<net.Socket>, close: () => Promise<void> }>}
 */
export async function listen(server) {
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen({ port: 0, host: HOST, backlog: 4096 });
  await once(server, 'listening');
  return {
    port: server.address().port,
    server,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port free now on 127.0.0.1, for the relay to claim. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(() => resolve()));
  return port;
}

function swallow(socket) {
  socket.on('error', () => {});
  return socket;
}

// ---------------------------------------------------------------------------------------------
// Local services

/** Counts bytes arriving at the local services; `until(n)` resolves once n more have arrived. */
export class Meter {
  bytes = 0;
  #target = Infinity;
  #resolve = null;

  add(n) {
    this.bytes += n;
    if (this.bytes >= this.#target && this.#resolve) {
      const resolve = this.#resolve;
      this.#resolve = null;
      resolve();
    }
  }

  /** Resolves once `total` bytes have arrived since this call. */
  until(total) {
    this.bytes = 0;
    this.#target = total;
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }
}

/**
 * The local services a device forwards to: a TCP sink, a TLS sink (both count what they read
 * into `meter`) and a TCP echo (1-byte ping-pong). `accepted` counts the connections the sinks
 * and the echo accepted, to know when a device has connected every visitor through.
 */
export async function startLocalServices(pems) {
  const meter = new Meter();
  const counter = { accepted: 0, waiters: [] };
  const accept = (socket) => {
    swallow(socket);
    socket.setNoDelay(true);
    counter.accepted++;
    for (const w of counter.waiters.splice(0)) {
      if (counter.accepted >= w.n) w.resolve();
      else counter.waiters.push(w);
    }
  };
  const sink = (socket) => {
    accept(socket);
    socket.on('data', (chunk) => meter.add(chunk.length));
  };
  const tcpSink = await listen(net.createServer(sink));
  const tlsSink = await listen(tls.createServer({ key: pems.key, cert: pems.cert }, sink));
  tlsSink.server.on('tlsClientError', () => {});
  const echo = await listen(
    net.createServer((socket) => {
      accept(socket);
      socket.on('data', (chunk) => socket.write(chunk));
    }),
  );
  return {
    meter,
    ports: { tcpSink: tcpSink.port, tlsSink: tlsSink.port, echo: echo.port },
    /** Resolves once `n` connections in all have been accepted (counted from 0 at start). */
    accepted(n) {
      if (counter.accepted >= n) return Promise.resolve();
      return new Promise((resolve) => counter.waiters.push({ n, resolve }));
    },
    get acceptedCount() {
      return counter.accepted;
    },
    /** Connections open now at the sinks and the echo. */
    get openCount() {
      return tcpSink.sockets.size + tlsSink.sockets.size + echo.sockets.size;
    },
    close: async () => {
      await Promise.all([tcpSink.close(), tlsSink.close(), echo.close()]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * Starts one path toward a local service.
 * @param {'mproxy' | 'pipes' | 'multiplex'} kind
 * @param {'tcp' | 'tls'} service  tcp: by claimed port (mproxy); tls: by SNI (mproxy), the TLS
 *                                 carried untouched
 * @param {number} localPort
 * @returns {Promise<{ port: number, close: () => Promise<void> }>} where visitors connect
 */
export function startPath(kind, service, localPort) {
  if (kind === 'mproxy') return startMproxy(service, localPort);
  if (kind === 'pipes') return startPipes(localPort);
  if (kind === 'multiplex') return startMultiplex(localPort);
  throw new Error(`unknown path ${kind}`);
}

async function startMproxy(service, localPort) {
  const claimed = service === 'tcp' ? await freePort() : undefined;
  const relay = await createRelay({
    listen: `${HOST}:0`,
    tunnel: `${HOST}:0`,
    secret: SECRET,
    ...(claimed ? { tcpPorts: String(claimed) } : {}),
  });
  let device;
  try {
    const token = await issueToken(SECRET, claimed ? { ports: [claimed] } : { domains: [NAME] });
    device = createDevice({
      relay: relay.tunnelUrl,
      reconnect: false,
      token,
      forwards: [claimed ? `tcp:${claimed}=${HOST}:${localPort}` : `https:${NAME}=${HOST}:${localPort}`],
    });
    await device.online();
    if (claimed) {
      const deadline = Date.now() + 5000;
      while (!relay.ports.tcp.includes(claimed)) {
        if (Date.now() > deadline) throw new Error(`the relay did not listen on claimed port ${claimed}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  } catch (error) {
    await device?.close();
    await relay.close();
    throw error;
  }
  return {
    port: claimed ?? relay.addresses.public.port,
    close: async () => {
      await device.close();
      await relay.close();
    },
  };
}

async function startPipes(localPort) {
  const device = await listen(
    net.createServer((socket) => {
      swallow(socket).setNoDelay(true);
      join(socket, swallow(net.connect({ port: localPort, host: HOST, noDelay: true })));
    }),
  );
  const relay = await listen(
    net.createServer((socket) => {
      swallow(socket).setNoDelay(true);
      join(socket, swallow(net.connect({ port: device.port, host: HOST, noDelay: true })));
    }),
  );
  return {
    port: relay.port,
    close: async () => {
      await relay.close();
      await device.close();
    },
  };
}

async function startMultiplex(localPort) {
  const multiplex = require('multiplex');
  // The relay's end of the one relay ↔ device connection.
  const tunnelServer = await listen(net.createServer());
  const relaySide = once(tunnelServer.server, 'connection');
  const deviceSocket = swallow(net.connect({ port: tunnelServer.port, host: HOST, noDelay: true }));
  const [[relaySocket]] = await Promise.all([relaySide, once(deviceSocket, 'connect')]);
  swallow(relaySocket).setNoDelay(true);
  const relayPlex = multiplex();
  relayPlex.on('error', () => {});
  relaySocket.pipe(relayPlex).pipe(relaySocket);
  const devicePlex = multiplex((stream) => {
    stream.on('error', () => {});
    join(stream, swallow(net.connect({ port: localPort, host: HOST, noDelay: true })));
  });
  devicePlex.on('error', () => {});
  deviceSocket.pipe(devicePlex).pipe(deviceSocket);
  const relay = await listen(
    net.createServer((socket) => {
      swallow(socket).setNoDelay(true);
      const stream = relayPlex.createStream();
      stream.on('error', () => {});
      join(socket, stream);
    }),
  );
  return {
    port: relay.port,
    close: async () => {
      await relay.close();
      relayPlex.destroy();
      devicePlex.destroy();
      deviceSocket.destroy();
      relaySocket.destroy();
      await tunnelServer.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Visitors

/**
 * Opens `n` visitors to `port` (TLS to NAME when `pems` is given, verifying the local service's
 * certificate), `batch` at a time so that no accept queue overflows. Resolves once every one is
 * connected (TLS: handshake done).
 * @returns {Promise<net.Socket[]>}
 */
export async function openVisitors(n, port, { pems, batch = 100 } = {}) {
  const visitors = [];
  for (let at = 0; at < n; at += batch) {
    const wave = [];
    for (let i = at; i < Math.min(n, at + batch); i++) {
      const socket = pems
        ? tls.connect({ host: HOST, port, servername: NAME, ca: [pems.cert], rejectUnauthorized: true })
        : net.connect({ host: HOST, port, noDelay: true });
      if (pems) socket.setNoDelay(true);
      visitors.push(socket);
      wave.push(
        new Promise((resolve, reject) => {
          socket.once(pems ? 'secureConnect' : 'connect', resolve);
          socket.once('error', reject);
        }),
      );
    }
    await Promise.all(wave);
  }
  for (const socket of visitors) swallow(socket);
  return visitors;
}

/** Destroys visitors and waits until each has closed. */
export async function closeVisitors(visitors) {
  await Promise.all(
    visitors.map((socket) => {
      if (socket.closed) return undefined;
      const closed = once(socket, 'close').catch(() => {});
      socket.destroy();
      return closed;
    }),
  );
}

/** Writes `bytes` on `socket` in `chunk`-sized writes, waiting out each write that returns false. */
export async function writeBytes(socket, chunk, bytes) {
  let left = bytes;
  while (left > 0) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (!socket.write(part)) await once(socket, 'drain');
  }
}

/**
 * `count` sequential 1-byte round trips on `socket` (the far end echoes): writes one byte, waits
 * for one byte back, and pushes each round trip's time (ms) onto `samples`.
 */
export function pingPong(socket, count, samples) {
  return new Promise((resolve, reject) => {
    const byte = Buffer.from([0x2a]);
    let left = count;
    let t0 = 0;
    let pending = 0;
    const onData = (chunk) => {
      pending -= chunk.length;
      if (pending > 0) return;
      samples.push(performance.now() - t0);
      if (--left === 0) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve();
        return;
      }
      send();
    };
    const send = () => {
      pending = 1;
      t0 = performance.now();
      socket.write(byte);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    send();
  });
}
