import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { InvalidOptionError } from '../codec/errors.js';

/**
 * The sources trusted to send PROXY headers: `10.0.0.0/8,192.168.1.7,::1/128`. An address
 * without a prefix is one host; IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, how a dual-stack
 * listener sees IPv4 peers) match the IPv4 ranges.
 */
export class TrustedSources {
  readonly #list = new BlockList();
  /** The ranges as given, for logs. */
  readonly ranges: readonly string[];

  /** @throws {InvalidOptionError} naming the range that is not `ADDRESS[/PREFIX]`. */
  constructor(ranges: string | readonly string[]) {
    const all = (typeof ranges === 'string' ? [ranges] : ranges).flatMap((text) => text.split(',')).map((text) => text.trim()).filter(Boolean);
    if (all.length === 0) throw new InvalidOptionError('acceptProxyProtocol needs at least one CIDR range');
    for (const range of all) {
      const [address = '', prefixText] = range.split('/');
      const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
      const max = type === 'ipv4' ? 32 : 128;
      const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!type || !(prefix >= 0 && prefix <= max)) throw new InvalidOptionError(`acceptProxyProtocol range ${JSON.stringify(range)} is not ADDRESS[/PREFIX]`);
      this.#list.addSubnet(address, prefix, type);
    }
    this.ranges = all;
  }

  /** Whether a connection from `address` must start with a PROXY header. */
  trusts(address: string | undefined): boolean {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#list.check(mapped[1] as string, 'ipv4');
    return this.#list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  }
}
