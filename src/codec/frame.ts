/**
 * Types and constants of the M-PROXY v1 wire format.
 *
 * A frame is `<0xfe><header length><header><body>`, the header being comma separated text:
 * `family,address,port,datalen,service,serviceport,name[,original service]`.
 */

/** First byte of every v1 frame (255 - version 1). */
export const VERSION_BYTE = 0xfe;
/** The header length travels in one byte. */
export const MAX_HEADER_BYTES = 255;
/** Largest valid TCP/UDP port. */
export const MAX_PORT = 65535;

/**
 * What a frame does. `data` carries a client's bytes; the others drive a client's life, except
 * `control`, which talks to the peer itself (JSON bodies, empty address).
 */
export type FrameKind = 'data' | 'connection' | 'end' | 'error' | 'pause' | 'resume' | 'control';

/** The header's service values that are not data but a kind of their own. */
export const SIGNAL_KINDS: ReadonlySet<string> = new Set([
  'connection',
  'end',
  'error',
  'pause',
  'resume',
  'control',
]);

/** The address that identifies one client among many on a tunnel. */
export interface ClientAddress {
  /** `IPv4`, `IPv6`, or empty (control frames). */
  readonly family: string;
  /** The client's remote address. */
  readonly address: string;
  /** The client's remote port; `null` when the header leaves it empty. */
  readonly port: number | null;
}

/** What a client is: its address plus where it was going. */
export interface ClientMeta extends ClientAddress {
  /**
   * The service the client reached (`https`, `http`, `tcp`, `udp`, …). The wire carries it only
   * on `data` and `connection` frames; on the other kinds it decodes as `''`.
   */
  readonly service: string;
  /** The port the client reached on the relay; `null` when unknown. */
  readonly serviceport: number | null;
  /** The name the client asked for (SNI or Host); `''` when unknown. */
  readonly name: string;
}

/** One decoded M-PROXY message. */
export interface Frame extends ClientMeta {
  readonly kind: FrameKind;
  /** The client id, `family,address,port`: the same string as `addrToId`. */
  readonly id: string;
  /** The body. Zero-length when the frame has none; a view into the input when possible. */
  readonly data: Uint8Array;
}

/**
 * What `encodeFrame` takes: a frame whose optional fields default to empty. `id` is derived
 * from the address and ignored if given.
 */
export interface FrameInit {
  readonly kind: FrameKind;
  readonly family?: string;
  readonly address?: string;
  readonly port?: number | null;
  readonly service?: string;
  readonly serviceport?: number | null;
  readonly name?: string;
  readonly data?: Uint8Array;
  readonly id?: string;
}

/** The client id of an address: `family,address,port` (empty fields stay empty). */
export function addrToId(address: { family?: unknown; address?: unknown; port?: unknown }): string {
  return `${str(address.family)},${str(address.address)},${str(address.port)}`;
}

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

/** The six fields that say who a client is and where it was going, picked from a frame. */
export function clientMetaOf(source: ClientMeta): ClientMeta {
  return {
    family: source.family,
    address: source.address,
    port: source.port,
    service: source.service,
    serviceport: source.serviceport,
    name: source.name,
  };
}
