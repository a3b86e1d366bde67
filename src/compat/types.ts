/**
 * Public types of the proxy-packer compatible API. They describe the shapes proxy-packer@2.0.4
 * hands out (strings for every header field, `undefined` for missing ones), not mproxy's own
 * {@link Frame}, which is typed and numeric.
 */
import type { EventEmitter } from 'node:events';

/**
 * The address and routing information `pack`/`packHeader` write into a header.
 *
 * Ports may be numbers or canonical decimal strings (`"443"`), since messages decoded by
 * {@link create} carry them as strings and are commonly packed again.
 */
export interface PackerMeta {
  family?: string | null | undefined;
  address?: string | null | undefined;
  port?: number | string | null | undefined;
  /** Set by `packHeader` when it is given a service other than `control`/`connection`. */
  service?: string | null | undefined;
  serviceport?: number | string | null | undefined;
  name?: string | null | undefined;
}

/**
 * One decoded message, as proxy-packer builds it. Header fields are the strings found on the
 * wire; a field the header does not have is `undefined`.
 */
export interface PackerMessage {
  family: string;
  address: string;
  port: string;
  /**
   * The header's service field; for a `connection` frame, the client's original service (the
   * header's 8th field), `undefined` when the header has none.
   */
  service: string | undefined;
  serviceport: string | undefined;
  name: string | undefined;
  /** The body, or `undefined` when the frame has none. */
  data: Buffer | undefined;
  /**
   * On `error` frames, the keys of the JSON body come first (usually `message` and `code`);
   * a body that is not JSON gives `message: 'e:' + JSON.stringify(data)` and
   * `code: 'E_UNKNOWN_ERR'`.
   */
  [key: string]: unknown;
}

/** A handler of decoded messages. */
export type PackerHandler = (message: PackerMessage) => void;

/**
 * What {@link create} takes. Each handler may be spelled all lower case (`onmessage`) or
 * camel case (`onMessage`); the lower case one wins when both are given.
 *
 * Without `onmessage`/`onMessage` the unpacker is an EventEmitter instead (see
 * {@link UnpackerEmitter}) and the other handlers are never called.
 */
export interface PackerHandlers {
  onmessage?: PackerHandler | undefined;
  onMessage?: PackerHandler | undefined;
  oncontrol?: PackerHandler | undefined;
  onControl?: PackerHandler | undefined;
  onconnection?: PackerHandler | undefined;
  onConnection?: PackerHandler | undefined;
  onerror?: PackerHandler | undefined;
  onError?: PackerHandler | undefined;
  onend?: PackerHandler | undefined;
  onEnd?: PackerHandler | undefined;
  onpause?: PackerHandler | undefined;
  onPause?: PackerHandler | undefined;
  onresume?: PackerHandler | undefined;
  onResume?: PackerHandler | undefined;
}

/** Handlers that select handler mode: `onmessage` or `onMessage` is given. */
export type PackerMessageHandlers = PackerHandlers &
  ({ onmessage: PackerHandler } | { onMessage: PackerHandler });

/** The functions of an unpacker, as proxy-packer names them. */
export interface UnpackerFns {
  /**
   * Feeds the next bytes of the stream, cut anywhere. Handlers run (or events are emitted)
   * synchronously, once per completed frame, in order.
   * @throws {ProtocolError} when the bytes are not valid M-PROXY v1 (see `docs/compat.md`);
   *   frames completed before the bad byte are delivered first. The unpacker then stays
   *   failed and throws the same error on every later call.
   */
  addChunk(chunk: Uint8Array): void;
  /** The name the proxy-packer README gives {@link UnpackerFns.addChunk}; the same function. */
  addData(chunk: Uint8Array): void;
}

/**
 * The handlers an unpacker calls, read when each frame completes, so they may be replaced on
 * the unpacker after {@link create}. A frame whose handler is missing goes to `onmessage`.
 */
export interface UnpackerHandlers {
  onmessage: PackerHandler | undefined;
  oncontrol: PackerHandler | undefined;
  /** Defaults to a function that does nothing, so `connection` frames never reach `onmessage`. */
  onconnection: PackerHandler | undefined;
  onerror: PackerHandler | undefined;
  onend: PackerHandler | undefined;
  onpause: PackerHandler | undefined;
  onresume: PackerHandler | undefined;
}

/** An unpacker in handler mode (created with `onmessage` or `onMessage`). */
export interface Unpacker extends UnpackerHandlers {
  readonly fns: UnpackerFns;
}

/**
 * The events of an unpacker in EventEmitter mode. proxy-packer emits them without arguments;
 * mproxy passes the message, which listeners written for proxy-packer simply ignore.
 */
export interface UnpackerEvents {
  tunnelData: [message: PackerMessage];
  tunnelConnection: [message: PackerMessage];
  tunnelControl: [message: PackerMessage];
  tunnelError: [message: PackerMessage];
  tunnelEnd: [message: PackerMessage];
  tunnelPause: [message: PackerMessage];
  tunnelResume: [message: PackerMessage];
}

/** An unpacker in EventEmitter mode (created without `onmessage`/`onMessage`). */
export interface UnpackerEmitter extends EventEmitter<UnpackerEvents>, Unpacker {}

/** What {@link socketToAddr} reads from a socket. */
export interface SocketAddr {
  family: string | undefined;
  address: string | undefined;
  port: number | undefined;
  /** The local port the client connected to. */
  serviceport: number | undefined;
}

/** Anything {@link addrToId} can name: fields are concatenated as JavaScript strings. */
export interface AddrLike {
  family?: unknown;
  address?: unknown;
  port?: unknown;
}
