/**
 * Which public ports a relay lets devices claim. A token's `ports` claim says what a device
 * asks for; the relay's ranges say what it will open. Only ports in both are granted.
 */
import { InvalidOptionError } from '../codec/errors.js';
import type { Grant } from './token.js';

/** An inclusive range of ports, `from <= to`. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** The kinds of port a device can claim. */
export type PortKind = 'tcp' | 'udp';

/** Relay options that open ports to devices; both in the form `"5000-5100,6000"`. */
export interface PortPolicyOptions {
  /** TCP ports devices may claim. Absent or empty: none. */
  tcpPorts?: string | undefined;
  /** UDP ports devices may claim. Absent or empty: none. */
  udpPorts?: string | undefined;
}

/**
 * Parses a list of ports and inclusive ranges, `"5000-5100, 6000"`, into ranges sorted by their
 * start with overlapping and adjacent ones merged. Whitespace around items is ignored; an empty
 * or blank text is the empty list. `optionName` is only used in the error message.
 *
 * @throws InvalidOptionError `E_INVALID_OPTION` for an empty item (`"1,,2"`), anything but
 *   decimal digits, a port outside 1–65535, or a range whose end is before its start.
 */
export function parsePortRanges(text: string, optionName = 'ports'): readonly PortRange[] {
  if (text.trim() === '') return [];
  const ranges: PortRange[] = [];
  for (const item of text.split(',')) {
    const match = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(item);
    const from = match?.[1] === undefined ? Number.NaN : Number(match[1]);
    const to = match?.[2] === undefined ? from : Number(match[2]);
    if (!isPort(from) || !isPort(to) || to < from) {
      throw new InvalidOptionError(
        `${optionName} must be ports 1-65535 or ranges "from-to" separated by commas, got ${JSON.stringify(item.trim())} in ${JSON.stringify(text)}`,
      );
    }
    ranges.push({ from, to });
  }
  ranges.sort((a, b) => a.from - b.from);
  const merged: PortRange[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.from <= last.to + 1) merged[merged.length - 1] = { from: last.from, to: Math.max(last.to, range.to) };
    else merged.push(range);
  }
  return merged;
}

/** Whether `value` is a port a device may claim or a service listen on: an integer 1–65535. */
export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * A port written as decimal digits (leading zeros allowed, as in a flag or a forward rule) that
 * {@link isPort} takes; `undefined` for anything else.
 */
export function portOfText(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return isPort(port) ? port : undefined;
}

/** The TCP and UDP port ranges a relay opens to devices, validated once when built. */
export class PortPolicy {
  /** TCP ranges, sorted and merged. */
  readonly tcp: readonly PortRange[];
  /** UDP ranges, sorted and merged. */
  readonly udp: readonly PortRange[];

  /** @throws InvalidOptionError `E_INVALID_OPTION` when either option is not a valid list. */
  constructor(options: PortPolicyOptions = {}) {
    this.tcp = parsePortRanges(options.tcpPorts ?? '', 'tcpPorts');
    this.udp = parsePortRanges(options.udpPorts ?? '', 'udpPorts');
  }

  /** Whether a device may claim `port` for `kind`. */
  allows(kind: PortKind, port: number): boolean {
    const ranges = kind === 'tcp' ? this.tcp : this.udp;
    return ranges.some((range) => port >= range.from && port <= range.to);
  }
}

/** The ports of a grant that a relay opens, split by kind, and those it opens for neither. */
export interface GrantedPorts {
  /** Ports to listen on for TCP, in the grant's order. */
  readonly tcp: number[];
  /** Ports to listen on for UDP, in the grant's order. */
  readonly udp: number[];
  /** Ports of the grant the policy allows for neither kind: tell the device. */
  readonly refused: number[];
}

/**
 * Applies a relay's policy to a token's port claim. A claimed port covers TCP and UDP on that
 * port, each only where the policy allows it; a port allowed for neither is `refused` (the
 * token stays valid for the rest).
 */
export function grantedPorts(grant: Pick<Grant, 'ports'>, policy: PortPolicy): GrantedPorts {
  const result: GrantedPorts = { tcp: [], udp: [], refused: [] };
  for (const port of grant.ports) {
    const tcp = policy.allows('tcp', port);
    const udp = policy.allows('udp', port);
    if (tcp) result.tcp.push(port);
    if (udp) result.udp.push(port);
    if (!tcp && !udp) result.refused.push(port);
  }
  return result;
}
