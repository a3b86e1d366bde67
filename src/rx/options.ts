import { InvalidOptionError } from '../codec/errors.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../codec/options.js';
import { checkAtMost, checkSize } from '../transport/options.js';

/** Options of {@link createTunnel}. Every size is in bytes. */
export interface TunnelOptions {
  /** Largest frame body accepted from the remote. Default 16 MiB. */
  maxFrameSize?: number;
  /**
   * Per client, inbound: when the bytes a client's consumer has not taken yet (queued in the
   * client, plus the backlog its consumer reports, e.g. a socket's write buffer) pass this,
   * `pause` is sent for that client. Default 1 MiB.
   */
  highWaterMark?: number;
  /** Per client, inbound: `resume` is sent once the backlog is back to this. Default 128 KiB. */
  lowWaterMark?: number;
  /**
   * Per client, inbound: a remote that goes on sending past this (it ignores `pause`) gets the
   * client destroyed with `E_CLIENT_BUFFER_OVERFLOW`; the other clients live on. Default 64 MiB:
   * a `pause` can queue behind everything already in flight toward us (kernel socket buffers
   * alone hold tens of MiB on a busy link), so a remote that honours it may still deliver that
   * much after it was sent.
   */
  maxClientBuffer?: number;
  /**
   * Whole tunnel, inbound: bytes queued in all clients together; past it the client receiving
   * is destroyed with `E_TUNNEL_BUFFER_OVERFLOW`. Default 256 MiB.
   */
  maxTunnelBuffer?: number;
  /**
   * What to do with a `data` frame for an id that has no client. `open` (default) makes it a
   * new client on `clients$`, as the telebit device does; `reject` answers `error` with
   * `E_NO_CONN`, as the telebit relay does. A `connection` frame always opens a client.
   */
  unknownData?: 'open' | 'reject';
}

/** {@link TunnelOptions} with defaults filled in, validated once. */
export type ResolvedTunnelOptions = Readonly<Required<TunnelOptions>>;

export const TUNNEL_DEFAULTS: ResolvedTunnelOptions = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  highWaterMark: 1024 * 1024,
  lowWaterMark: 128 * 1024,
  maxClientBuffer: 64 * 1024 * 1024,
  maxTunnelBuffer: 256 * 1024 * 1024,
  unknownData: 'open',
};

/** @throws {InvalidOptionError} `E_INVALID_OPTION` for a bad size, order of sizes or `unknownData`. */
export function resolveTunnelOptions(options: TunnelOptions = {}): ResolvedTunnelOptions {
  const size = (name: Exclude<keyof TunnelOptions, 'unknownData'>, min = 0): number =>
    checkSize(name, options[name] ?? TUNNEL_DEFAULTS[name], min);
  const resolved: ResolvedTunnelOptions = {
    // At least 1: writes are cut into frames of this size.
    maxFrameSize: size('maxFrameSize', 1),
    highWaterMark: size('highWaterMark'),
    lowWaterMark: size('lowWaterMark'),
    maxClientBuffer: size('maxClientBuffer'),
    maxTunnelBuffer: size('maxTunnelBuffer'),
    unknownData: options.unknownData ?? TUNNEL_DEFAULTS.unknownData,
  };
  checkAtMost('lowWaterMark', resolved.lowWaterMark, 'highWaterMark', resolved.highWaterMark);
  checkAtMost('highWaterMark', resolved.highWaterMark, 'maxClientBuffer', resolved.maxClientBuffer);
  if (resolved.unknownData !== 'open' && resolved.unknownData !== 'reject') {
    throw new InvalidOptionError(`unknownData must be 'open' or 'reject', got ${String(resolved.unknownData)}`);
  }
  return resolved;
}
