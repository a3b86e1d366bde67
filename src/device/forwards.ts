/**
 * Where a device sends each client: `service:name=host:port` for names (`https`, `http`) and
 * `service:port=host:port` for ports (`tcp`, `udp`).
 */
import { isValidName, matchesName, normalizeName, wildcardSpecificity } from '../auth/names.js';
import { portOfText } from '../auth/policy.js';
import { InvalidOptionError } from '../codec/errors.js';
import { joinHostPort, splitHostPort } from '../transport/host-port.js';
import { bracketHint } from '../address-hint.js';
import type { ProxyVersion } from '../proxy-protocol/header.js';

/** The services a forward can be for. */
export type ForwardService = 'https' | 'http' | 'tcp' | 'udp';

/** One forwarding rule of a device. */
export interface Forward {
  readonly service: ForwardService;
  /** For `https`/`http`: the name (or `*.wildcard`) clients asked for. */
  readonly name?: string;
  /** For `tcp`/`udp`: the public port clients reached on the relay. */
  readonly port?: number;
  /** The local service to connect to. */
  readonly target: { readonly host: string; readonly port: number };
  /**
   * For `https` only: the device terminates TLS and speaks `http` (plain HTTP, with
   * `X-Forwarded-*` headers) or `tcp` (the decrypted bytes) to the target. Absent: TLS passes
   * through to the target untouched.
   */
  readonly terminate?: 'http' | 'tcp';
  /**
   * For `tcp` and `https`/`http` (not terminated): put a PROXY protocol header (`v1` text or
   * `v2` binary) in front of each connection to the target, carrying the visitor's address and
   * port and the relay's (written `,proxy=v1` or `,proxy=v2` after the target).
   */
  readonly proxy?: ProxyVersion;
}

const SERVICES: ReadonlySet<string> = new Set(['https', 'http', 'tcp', 'udp']);

/**
 * Parses `https:app.localhost=127.0.0.1:3000`, `tcp:5050=127.0.0.1:22`,
 * `udp:5353=[::1]:53`, `tcp:5050=127.0.0.1:22,proxy=v2`. A bare target port means 127.0.0.1. An `https` target written
 * `http://host:port` or `tcp://host:port` has the device terminate TLS (see `docs/tls.md`).
 * @throws {InvalidOptionError} with a message naming the bad part.
 */
export function parseForward(spec: string): Forward {
  const eq = spec.indexOf('=');
  const colon = spec.indexOf(':');
  if (eq < 0 || colon < 0 || colon > eq) {
    throw new InvalidOptionError(`forward ${JSON.stringify(spec)} is not service:name=host:port or service:port=host:port`);
  }
  const service = spec.slice(0, colon).toLowerCase();
  const what = spec.slice(colon + 1, eq).trim();
  if (!SERVICES.has(service)) {
    throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: service must be https, http, tcp or udp`);
  }
  let targetText = spec.slice(eq + 1).trim();
  let proxy: ProxyVersion | undefined;
  const option = /,\s*proxy=([^,]*)$/i.exec(targetText);
  if (option) {
    const value = (option[1] as string).trim().toLowerCase();
    if (value !== 'v1' && value !== 'v2') throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: proxy must be v1 or v2`);
    if (service === 'udp') throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: proxy= is for TCP forwards, not udp`);
    proxy = value;
    targetText = targetText.slice(0, option.index).trim();
  }
  const scheme = /^([a-z]+):\/\//i.exec(targetText);
  let terminate: 'http' | 'tcp' | undefined;
  if (scheme) {
    const kind = (scheme[1] as string).toLowerCase();
    if (service !== 'https' || (kind !== 'http' && kind !== 'tcp')) {
      const why = service === 'https' ? `${kind}:// is not a target scheme (http:// or tcp://)` : 'only https forwards take a target scheme (http:// or tcp://)';
      throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: ${why}`);
    }
    terminate = kind;
    targetText = targetText.slice(scheme[0].length).replace(/\/$/, '');
  }
  if (proxy && terminate) throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: proxy= is for forwards that pass TLS through, not ones that terminate it`);
  const target = parseTarget(targetText, spec);
  const extra = proxy ? { proxy } : {};
  if (service === 'tcp' || service === 'udp') {
    return { service, port: parsePort(what, spec), target, ...extra };
  }
  // The names tokens claim and visitors ask for follow one rule (auth/names): a forward that
  // could never match one of them is refused here.
  if (!isValidName(what, { wildcard: true })) {
    throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: ${JSON.stringify(what)} is not a host name`);
  }
  const name = normalizeName(what);
  return terminate ? { service: 'https', name, target, terminate } : { service: service as ForwardService, name, target, ...extra };
}

function parseTarget(text: string, spec: string): { host: string; port: number } {
  const parts = splitHostPort(text);
  // Unlike a listen address, a target needs its host when it is not a bare port.
  if (!parts || parts.host === '') throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: target must be host:port${bracketHint(text)}`);
  return { host: parts.host ?? '127.0.0.1', port: parsePort(parts.port, spec) };
}

function parsePort(text: string, spec: string): number {
  const port = portOfText(text);
  if (port === undefined) {
    throw new InvalidOptionError(`forward ${JSON.stringify(spec)}: ${JSON.stringify(text)} is not a port 1-65535`);
  }
  return port;
}

/**
 * Refuses two forwards for the same name or port of one service: only the first would ever get
 * visitors, while the device would say it serves both.
 * @throws {InvalidOptionError} naming both.
 */
export function checkForwards(forwards: readonly Forward[]): void {
  const seen = new Map<string, Forward>();
  for (const forward of forwards) {
    const key = `${forward.service}:${forward.name ?? forward.port}`;
    const first = seen.get(key);
    if (first) {
      throw new InvalidOptionError(`forwards ${describeForward(first)} and ${describeForward(forward)} are for the same ${forward.name === undefined ? 'port' : 'name'}: keep one`);
    }
    seen.set(key, forward);
  }
}

function describeForward(forward: Forward): string {
  return `${forward.service}:${forward.name ?? forward.port}=${joinHostPort(forward.target.host, forward.target.port)}`;
}

/**
 * The forward for a client: by name for `https`/`http` (exact first, then the longest
 * wildcard), by the relay port for `tcp`/`udp`. Services the relay names otherwise (`tls`,
 * `ssh+https`) fall back to a forward by name, then by port.
 */
export function findForward(
  forwards: readonly Forward[],
  client: { service: string; name: string; serviceport: number | null },
): Forward | undefined {
  const service = client.service.toLowerCase();
  const name = client.name;
  // A device has a handful of forwards: a scan is cheaper than keeping an index in step.
  const byName = (wanted: ForwardService): Forward | undefined => {
    let best: Forward | undefined;
    for (const forward of forwards) {
      if (forward.service !== wanted || forward.name === undefined || !matchesName(forward.name, name)) continue;
      if (!best || wildcardSpecificity(forward.name) > wildcardSpecificity(best.name as string)) best = forward;
    }
    return best;
  };
  const byPort = (wanted: ForwardService): Forward | undefined =>
    forwards.find((forward) => forward.service === wanted && forward.port === client.serviceport);
  if (service === 'udp') return byPort('udp');
  if (service === 'tcp') return byPort('tcp');
  if (service === 'http') return byName('http');
  if (service === 'https' || service === 'tls') return byName('https');
  if (name) return byName('https') ?? byName('http') ?? byPort('tcp');
  return byPort('tcp');
}
