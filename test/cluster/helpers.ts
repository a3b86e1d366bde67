import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createDevice, issueToken, type Device } from '../../src/index.js';
import { defer, echoServer, freePort, listen, selfSignedCertificate, SECRET } from '../support/index.js';

/** The local services a device serves: a TLS echo (app.localhost), an HTTP hasher (web.localhost), a TCP echo. */
export async function services(): Promise<{ tls: number; http: number; tcp: number }> {
  const { key, cert } = await selfSignedCertificate('app.localhost');
  const tlsServer = tls.createServer({ key, cert, allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  const http = createHttpServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('end', () => res.end(`${req.headers.host ?? ''} ${hash.digest('hex')}`));
  });
  const echo = await echoServer();
  return { tls: await listen(tlsServer, defer), http: await listen(http, defer), tcp: echo.port };
}

/** A token for app.localhost, web.localhost and `port`. */
export function clusterToken(port: number, sub = 'device-1'): Promise<string> {
  return issueToken(SECRET, { domains: ['app.localhost', 'web.localhost'], ports: [port], sub });
}

export function forwardsFor(local: { tls: number; http: number; tcp: number }, port: number): string[] {
  return [`https:app.localhost=127.0.0.1:${local.tls}`, `http:web.localhost=127.0.0.1:${local.http}`, `tcp:${port}=127.0.0.1:${local.tcp}`];
}

/** A device (in this process) on one relay, reconnecting, closed at clean-up. */
export async function deviceOn(relay: string, token: string, forwards: string[]): Promise<Device> {
  const device = createDevice({ relay, token, forwards, reconnect: { initialDelay: 50, maxDelay: 200 } });
  defer(() => device.close());
  await device.online();
  return device;
}

export const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** A TLS visitor for `servername` through `port`: writes `data`, reads the echo; its sha256. */
export function tlsEcho(port: number, servername: string, data: Buffer): Promise<string> {
  return echoHash('TLS', data, (connected) => tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, connected));
}

/**
 * What a visitor made by `connect` reads back once it has sent `data` and ended: the sha256 of
 * it all, or a failure when the echo came back short or long.
 */
function echoHash(kind: string, data: Buffer, connect: (connected: () => void) => net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(() => socket.end(data));
    const hash = createHash('sha256');
    let length = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    socket.on('error', reject);
    socket.on('close', () => (length === data.length ? resolve(hash.digest('hex')) : reject(new Error(`${kind} echo: ${length} of ${data.length} bytes back`))));
  });
}

/** An HTTP POST of `data` with `Host: host`; the body answered ("host sha256"). */
export function httpPost(port: number, host: string, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { host, 'content-length': data.length }, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** A TCP visitor of `host:port`: writes `data`, ends, reads the echo; its sha256. */
export function tcpEcho(host: string, port: number, data: Buffer): Promise<string> {
  return echoHash('TCP', data, (connected) => net.connect({ host, port, allowHalfOpen: true }, connected));
}

export { randomBytes, freePort };
