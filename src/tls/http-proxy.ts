/**
 * Plain HTTP to a local app for visitors whose TLS this process terminated: HTTP/1.1 (with
 * keep-alive and upgrades such as WebSocket) and HTTP/2, both spoken to the app as HTTP/1.1,
 * with `X-Forwarded-Proto: https`, `X-Forwarded-For`, `X-Forwarded-Host` and `Forwarded`
 * telling who the visitor is. Whatever the visitor sent in those headers is replaced: only
 * this process knows the visitor's address.
 */
import { Agent, createServer as createHttp1Server, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { silentLogger, type Logger } from '../logger.js';

/** Who a visitor is: the address the relay saw, from the client's `connection` frame. */
export interface Visitor {
  readonly family: string;
  readonly address: string;
  readonly port: number | null;
}

const VISITOR = Symbol('mproxy.visitor');

/** Marks a socket with its visitor, for the headers of the requests it carries. */
export function setVisitor(socket: Duplex, visitor: Visitor): void {
  (socket as unknown as Record<symbol, Visitor>)[VISITOR] = visitor;
}

function visitorOf(socket: unknown): Visitor | undefined {
  return (socket as Record<symbol, Visitor | undefined> | undefined)?.[VISITOR];
}

/** Headers that belong to one connection, never passed on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);
const REPLACED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']);

/** The headers a request goes to the app with. */
export function forwardedHeaders(headers: IncomingHttpHeaders, visitor: Visitor | undefined, host: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set((typeof headers.connection === 'string' ? headers.connection : '').toLowerCase().split(/\s*,\s*/));
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || key.startsWith(':') || HOP_BY_HOP.has(key) || REPLACED.has(key) || named.has(key)) continue;
    out[key] = value;
  }
  out.host = host;
  out['x-forwarded-proto'] = 'https';
  out['x-forwarded-host'] = host;
  if (visitor?.address) {
    out['x-forwarded-for'] = visitor.address;
    const node = visitor.family === 'IPv6' || visitor.address.includes(':') ? `"[${visitor.address}]"` : visitor.address;
    out.forwarded = `for=${node};proto=https;host="${host}"`;
  } else {
    out.forwarded = `proto=https;host="${host}"`;
  }
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set((typeof headers.connection === 'string' ? headers.connection : '').toLowerCase().split(/\s*,\s*/));
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(key) || named.has(key)) continue;
    out[key] = value;
  }
  return out;
}

/** An HTTP/1.1 and an HTTP/2 server (never listening) that send their requests to one app. */
export class HttpProxy {
  readonly #target: { host: string; port: number };
  readonly #log: Logger;
  readonly #agent = new Agent({ keepAlive: true });
  readonly #http1: Server;
  readonly #http2: Http2Server;
  readonly #upgraded = new Set<Duplex>();

  constructor(target: { host: string; port: number }, log: Logger = silentLogger) {
    this.#target = target;
    this.#log = log;
    this.#http1 = createHttp1Server((req, res) => this.#request(req, res));
    this.#http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#http1.on('clientError', (_error, socket: Duplex) => socket.destroy());
    this.#http2 = createHttp2Server((req, res) => this.#request(req, res));
    this.#http2.on('sessionError', () => undefined);
  }

  /** Serves a visitor's decrypted socket: HTTP/2 when ALPN chose `h2`, else HTTP/1.1. */
  serve(socket: TLSSocket): void {
    if (socket.alpnProtocol === 'h2') this.#http2.emit('connection', socket);
    else this.#http1.emit('connection', socket);
  }

  close(): void {
    this.#http1.closeAllConnections();
    this.#http1.close();
    this.#http2.close();
    for (const socket of this.#upgraded) socket.destroy();
    this.#agent.destroy();
  }

  #request(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    const host = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
    const visitor = visitorOf(req.socket);
    const upstream = request({
      host: this.#target.host,
      port: this.#target.port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req.headers, visitor, host),
      agent: this.#agent,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, responseHeaders(answer.headers));
      answer.pipe(res as NodeJS.WritableStream);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (error) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.#log.warn({ target: this.#target, err: error.message }, 'app unreachable');
      const body = `the app at ${this.#target.host}:${this.#target.port} is not answering\n`;
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // A visitor that aborts its request (or an HTTP/2 stream reset) ends the app's request too.
    req.on('error', () => upstream.destroy());
    res.on('error', () => upstream.destroy());
    (req as NodeJS.ReadableStream).pipe(upstream);
  }

  /** An upgrade (WebSocket): the request head goes to the app, then bytes both ways. */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const host = req.headers.host ?? '';
    const headers = forwardedHeaders(req.headers, visitorOf(socket), host);
    // The upgrade itself is what this connection is for: its hop-by-hop headers go along.
    headers.connection = 'Upgrade';
    if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
    const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
    for (const [key, value] of Object.entries(headers)) for (const one of [value].flat()) lines.push(`${key}: ${one}`);
    const app = connect({ host: this.#target.host, port: this.#target.port });
    this.#upgraded.add(socket);
    socket.once('close', () => this.#upgraded.delete(socket));
    app.setNoDelay(true);
    app.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) app.write(head);
    app.pipe(socket).pipe(app);
    app.on('error', () => socket.destroy());
    socket.on('error', () => app.destroy());
    socket.once('close', () => app.destroy());
    app.once('close', () => socket.destroy());
  }
}
