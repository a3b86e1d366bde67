import { InvalidOptionError } from '../codec/errors.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../codec/options.js';
import { checkWatermarks } from '../transport/options.js';

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
export interface ResolvedTunnelOptions {
  readonly maxFrameSize: number;
  readonly highWaterMark: number;
  readonly lowWaterMark: number;
  readonly maxClientBuffer: number;
  readonly maxTunnelBuffer: number;
  readonly unknownData: 'open' | 'reject';
}

export const TUNNEL_DEFAULTS: ResolvedTunnelOptions = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  highWaterMark: 1024 * 1024,
  lowWaterMark: 128 * 1024,
  maxClientBuffer: 64 * 1024 * 1024,
  maxTunnelBuffer: 256 * 1024 * 1024,
  unknownData: 'open',
};

export function resolveTunnelOptions(options: TunnelOptions = {}): ResolvedTunnelOptions {
  const resolved: ResolvedTunnelOptions = {
    // At least 1: writes are cut into frames of this size.
    maxFrameSize: size(options.maxFrameSize, TUNNEL_DEFAULTS.maxFrameSize, 'maxFrameSize', 1),
    highWaterMark: size(options.highWaterMark, TUNNEL_DEFAULTS.highWaterMark, 'highWaterMark'),
    lowWaterMark: size(options.lowWaterMark, TUNNEL_DEFAULTS.lowWaterMark, 'lowWaterMark'),
    maxClientBuffer: size(options.maxClientBuffer, TUNNEL_DEFAULTS.maxClientBuffer, 'maxClientBuffer'),
    maxTunnelBuffer: size(options.maxTunnelBuffer, TUNNEL_DEFAULTS.maxTunnelBuffer, 'maxTunnelBuffer'),
    unknownData: options.unknownData ?? TUNNEL_DEFAULTS.unknownData,
  };
  checkWatermarks(resolved.lowWaterMark, resolved.highWaterMark);
  if (resolved.highWaterMark > resolved.maxClientBuffer) {
    throw new InvalidOptionError(
      `highWaterMark (${resolved.highWaterMark}) must not exceed maxClientBuffer (${resolved.maxClientBuffer})`,
    );
  }
  if (resolved.unknownData !== 'open' && resolved.unknownData !== 'reject') {
    throw new InvalidOptionError(`unknownData must be 'open' or 'reject', got ${String(resolved.unknownData)}`);
  }
  return resolved;
}

function size(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
  }
  return value;
}
