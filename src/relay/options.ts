import type { SecureContextOptions } from 'node:tls';
import { InvalidOptionError } from '../codec/errors.js';
import type { Logger } from '../logger.js';
import { splitHostPort } from '../transport/host-port.js';
import { bracketHint } from '../address-hint.js';
import { checkDelay, checkKeepaliveOption } from '../control/options.js';
import { resolveTunnelOptions, type TunnelOptions } from '../rx/options.js';
import { resolveMaxBytes } from '../sniff/options.js';
import type { AcmeOptions } from '../tls/acme.js';
import { TrustedSources } from '../proxy-protocol/sources.js';
import type { TunnelMetrics } from '../metrics/tunnel-metrics.js';
import { resolveClusterOptions, type ClusterOptions } from '../cluster/options.js';
import { PortPolicy } from '../auth/policy.js';
import { isValidName, normalizeName } from '../auth/names.js';
import { RelayError } from './errors.js';

/**
 * The shortest secret a relay takes: 32 bytes, the size of the HS256 hash. A shorter one can be
 * found offline from any token it signed, by trying guesses.
 */
export const MIN_SECRET_BYTES = 32;

/** A host and a port to listen on. `port: 0` picks a free port. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Options of {@link createRelay}. */
export interface RelayOptions {
  /**
   * Where visitors come (TLS by SNI, HTTP by Host): one address or several (e.g. `:80` and
   * `:443`), each sniffed the same way. Default `127.0.0.1:8443`.
   */
  listen?: string | ListenAddress | readonly (string | ListenAddress)[];
  /** Where devices connect (WebSocket). Default `127.0.0.1:8080`. */
  tunnel?: string | ListenAddress;
  /** Key and certificate to serve the device endpoint as `wss://`. Default: plain `ws://`. */
  tunnelTls?: SecureContextOptions;
  /**
   * Serve the device endpoint as `wss://NAME` with a certificate the relay gets over ACME
   * (tls-alpn-01, answered on the visitor listener when the SNI is NAME). Excludes `tunnelTls`.
   */
  tunnelAcme?: AcmeOptions & { readonly name: string };
  /**
   * The shared secret that signs device tokens (HS256). Required, and at least
   * {@link MIN_SECRET_BYTES} bytes long unless `allowWeakSecret` is set.
   */
  secret: string | Uint8Array;
  /**
   * Accept a secret shorter than {@link MIN_SECRET_BYTES} bytes (an existing telebit
   * deployment's). Such a secret can be guessed offline from any token it signed.
   */
  allowWeakSecret?: boolean;
  /** TCP ports tokens may claim, e.g. `5000-5100,6000`. Default: none. */
  tcpPorts?: string;
  /** UDP ports tokens may claim. Default: none. */
  udpPorts?: string;
  /** Host the claimed TCP/UDP ports listen on. Default: the `listen` host. */
  portHost?: string;
  /** How long a visitor may take to send enough bytes to be routed (ms). Default 10 000. */
  sniffTimeout?: number;
  /** Most bytes read to route a visitor (a ClientHello or HTTP head). Default 16 KiB. */
  sniffMaxBytes?: number;
  /** How long a device may stay connected without a valid token (ms). Default 30 000. */
  tokenGrace?: number;
  /** WebSocket keepalive toward devices; `false` to disable. Defaults: 120 000 / 10 000 ms. */
  keepalive?: { interval?: number; timeout?: number } | false;
  /** A UDP visitor is forgotten after this many ms without a datagram. Default 60 000. */
  udpIdleTimeout?: number;
  /**
   * Sources trusted to put a PROXY protocol header (v1 or v2) in front of each connection: a
   * load balancer before the relay. `10.0.0.0/8,192.168.1.7` or a list. On every visitor
   * listener (`listen` and the TCP ports devices claim), a connection from these sources must
   * start with a header, whose source address becomes the visitor's; a header from anyone else,
   * or a malformed one, closes the connection with a log line. Default: none.
   */
  acceptProxyProtocol?: string | readonly string[];
  /**
   * Keep live metrics (`relay.metrics`, served at `/metrics` by the admin listener): `true`, or
   * a {@link TunnelMetrics} to report to. Default: off, and nothing is counted.
   */
  metrics?: boolean | TunnelMetrics;
  /** Options of each device tunnel. */
  tunnelOptions?: TunnelOptions;
  /**
   * Make this relay a node of a cluster on Redis (see docs/cluster.md). Every node needs the
   * same `secret`: it signs device tokens and authenticates nodes to each other. Without it the
   * relay stands alone.
   */
  cluster?: ClusterOptions;
  /** Where the relay logs (pino-compatible). Default: nowhere. */
  logger?: Logger;
}

/**
 * Checks the options that are only used later (per visitor, per device): a bad value is the
 * operator's mistake and must stop `createRelay`, not fail each visitor or device that comes
 * (a `sniffMaxBytes` of 0 used to throw inside a socket's 'data' handler).
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 */
export function checkRelayOptions(options: RelayOptions): void {
  checkDelay('sniffTimeout', options.sniffTimeout);
  checkDelay('tokenGrace', options.tokenGrace);
  checkDelay('udpIdleTimeout', options.udpIdleTimeout);
  checkKeepaliveOption(options.keepalive);
  resolveMaxBytes({ maxBytes: options.sniffMaxBytes }, 'sniffMaxBytes');
  resolveTunnelOptions(options.tunnelOptions);
  if (options.acceptProxyProtocol !== undefined) new TrustedSources(options.acceptProxyProtocol);
}

/**
 * Checks a whole relay configuration as `createRelay` takes it, without opening or reading
 * anything: the secret, every option's value, the listen addresses, the port ranges and the
 * cluster options. (`mproxy relay --print-config` runs it, so that a value that would stop the
 * relay at its start stops it there.)
 * @throws {InvalidOptionError} `E_INVALID_OPTION`, naming the option.
 * @throws {RelayError} `E_WEAK_SECRET` for a secret under {@link MIN_SECRET_BYTES} bytes without `allowWeakSecret`.
 */
export function checkRelayConfig(options: RelayOptions): void {
  if (options.secret === undefined || options.secret.length === 0) {
    throw new InvalidOptionError('the relay needs a secret to check device tokens');
  }
  const secretBytes = typeof options.secret === 'string' ? Buffer.byteLength(options.secret) : options.secret.byteLength;
  if (secretBytes < MIN_SECRET_BYTES && options.allowWeakSecret !== true) {
    throw new RelayError('E_WEAK_SECRET', `the secret is ${secretBytes} bytes long; it takes at least ${MIN_SECRET_BYTES} (make one with \`mproxy secret\`)`);
  }
  checkRelayOptions(options);
  const listens = Array.isArray(options.listen) ? options.listen : [options.listen];
  if (listens.length === 0) throw new InvalidOptionError('listen needs at least one address');
  for (const listen of listens) parseListen(listen, { host: '127.0.0.1', port: 0 }, 'listen');
  parseListen(options.tunnel, { host: '127.0.0.1', port: 0 }, 'tunnel');
  new PortPolicy({ tcpPorts: options.tcpPorts, udpPorts: options.udpPorts });
  if (options.tunnelAcme && options.tunnelTls) throw new InvalidOptionError('tunnelAcme and tunnelTls exclude each other');
  if (options.tunnelAcme && !isValidName(normalizeName(String(options.tunnelAcme.name ?? '')))) {
    throw new InvalidOptionError(`tunnelAcme name ${JSON.stringify(options.tunnelAcme.name)} is not a host name`);
  }
  if (options.cluster) resolveClusterOptions(options.cluster);
}

/** Parses `host:port`, `[v6]:port`, `:port` or a bare port (the last two on `fallback.host`); port 0 picks a free port. */
export function parseListen(value: string | ListenAddress | undefined, fallback: ListenAddress, what: string): ListenAddress {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') return checkPort(value, what);
  const parts = splitHostPort(value);
  if (!parts) throw new InvalidOptionError(`${what} ${JSON.stringify(value)} must be host:port${bracketHint(value)}`);
  return checkPort({ host: parts.host || fallback.host, port: Number(parts.port) }, what);
}

function checkPort(address: ListenAddress, what: string): ListenAddress {
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new InvalidOptionError(`${what} port ${String(address.port)} is not 0-65535`);
  }
  return address;
}
