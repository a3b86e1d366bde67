/**
 * The device's side of TLS termination: a tunnel client of a terminated name is joined to one
 * end of an in-process stream pair, and the other end is the visitor's TLS connection, served
 * with the name's certificate and passed on to the app as plain HTTP or raw bytes.
 */
import { connect as tcpConnect } from 'node:net';
import { duplexPair } from 'node:stream';
import { connectSocket } from '../rx/connect-socket.js';
import type { Client } from '../rx/client.js';
import type { Logger } from '../logger.js';
import { HttpProxy, setVisitor } from '../tls/http-proxy.js';
import { PlainHttpResponder } from '../tls/http-plain.js';
import { TlsSites, checkTlsSites, type TlsCertificateOptions } from '../tls/sites.js';
import { terminate } from '../tls/terminate.js';
import type { Forward } from './forwards.js';

const HTTP_ALPN = ['h2', 'http/1.1'] as const;

/** The names `forwards` terminate (TLS ended on the device). */
const terminatedNames = (forwards: readonly Forward[]): string[] =>
  forwards.filter((forward) => forward.terminate && forward.name).map((forward) => forward.name as string);

/**
 * Checks the certificates of the names `forwards` terminate as a start does (each `--cert`
 * read, a name without one needs ACME), serving, ordering and writing nothing: `--print-config`.
 * @throws {InvalidOptionError} `E_INVALID_OPTION`.
 */
export function checkTerminatedNames(forwards: readonly Forward[], options: TlsCertificateOptions): void {
  const names = terminatedNames(forwards);
  if (names.length > 0) checkTlsSites(names, options);
}

/** Terminated names' certificates and the servers behind them. */
export class TerminatedNames {
  readonly sites: TlsSites;
  readonly #proxies = new Map<string, HttpProxy>();
  readonly #plain: PlainHttpResponder;
  readonly #log: Logger;

  constructor(forwards: readonly Forward[], options: TlsCertificateOptions, log: Logger) {
    this.sites = new TlsSites(terminatedNames(forwards), options, log);
    this.#log = log;
    this.#plain = new PlainHttpResponder((name, token) => this.sites.httpChallenge(name, token));
  }

  start(): void {
    this.sites.start();
  }

  /** Serves a client of a terminated `https` forward. */
  serveTls(client: Client, forward: Forward, log: Logger): void {
    const [local, visitor] = duplexPair();
    connectSocket(client, local);
    const name = client.meta.name;
    const context = this.sites.contextFor(name);
    if (!context) log.info({ code: 'E_NO_CERTIFICATE' }, 'no certificate for this name yet: TLS alert sent');
    terminate(visitor, { context, alpn: forward.terminate === 'http' ? HTTP_ALPN : undefined }, this.sites.alpnChallenge(name), (socket) => {
      setVisitor(socket, { family: client.meta.family, address: client.meta.address, port: client.meta.port });
      if (forward.terminate === 'http') {
        this.#proxy(forward).serve(socket);
        return;
      }
      const app = tcpConnect({ host: forward.target.host, port: forward.target.port, allowHalfOpen: true });
      app.setNoDelay(true);
      socket.pipe(app).pipe(socket);
      app.on('error', () => socket.destroy());
      socket.on('close', () => app.destroy());
    });
  }

  /** Serves a plain-HTTP client of a terminated name: http-01 answers and https redirects. */
  servePlain(client: Client): void {
    const [local, visitor] = duplexPair();
    connectSocket(client, local);
    this.#plain.serve(visitor);
  }

  close(): void {
    this.sites.close();
    this.#plain.close();
    for (const proxy of this.#proxies.values()) proxy.close();
    this.#proxies.clear();
  }

  #proxy(forward: Forward): HttpProxy {
    const key = `${forward.target.host}:${forward.target.port}`;
    let proxy = this.#proxies.get(key);
    if (!proxy) {
      proxy = new HttpProxy(forward.target, this.#log);
      this.#proxies.set(key, proxy);
    }
    return proxy;
  }
}
