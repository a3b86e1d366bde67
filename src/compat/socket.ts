/**
 * Socket helpers of proxy-packer: reading a client's address from a socket. proxy-packer also
 * looked for it inside Node's private handle, for a TLS socket around another stream that Node
 * once left without one (nodejs/node#8854); every Node this runs on gives such a socket its
 * address, and nothing here reads Node's internals.
 */
import { Duplex } from 'node:stream';
import type { AddrLike, SocketAddr } from './types.js';

type Bag = Record<string, unknown>;

const ADDRESS_NAMES = ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort'] as const;

function bag(value: unknown): Bag | undefined {
  return value !== null && (typeof value === 'object' || typeof value === 'function') ? (value as Bag) : undefined;
}

// proxy-packer takes all four props from the first place that has a remote port.
function socketProps(socket: unknown): Bag {
  const s = bag(socket);
  if (!s) return {};
  const from = (source: Bag, prefix = ''): Bag => ({
    remoteFamily: source[`${prefix}remoteFamily`],
    remoteAddress: source[`${prefix}remoteAddress`],
    remotePort: source[`${prefix}remotePort`],
    localPort: source[`${prefix}localPort`],
  });
  if (s['remotePort']) return from(s);
  if (s['_remotePort']) return from(s, '_');
  return {};
}

/**
 * Reads a socket's client address: `{ family, address, port, serviceport }`, from the socket or,
 * for a TLS socket over another stream, from the stream underneath. Fields not found are
 * `undefined`. Ports are numbers here (unlike decoded messages).
 */
export function socketToAddr(socket: object): SocketAddr {
  const props = socketProps(socket);
  return {
    family: props['remoteFamily'] as string | undefined,
    address: props['remoteAddress'] as string | undefined,
    port: props['remotePort'] as number | undefined,
    serviceport: props['localPort'] as number | undefined,
  };
}

/**
 * The id of a client: `family + ',' + address + ',' + port`, by plain string concatenation as
 * in proxy-packer, so a missing field reads `undefined` (mproxy's own `addrToId` writes `''`).
 */
export function addrToId(address: AddrLike): string {
  // `+` rather than a template literal: the two convert objects differently, and ids must
  // match proxy-packer's for any input.
  return (address.family as string) + ',' + (address.address as string) + ',' + (address.port as string);
}

/** `addrToId(socketToAddr(socket))`. */
export function socketToId(socket: object): string {
  return addrToId(socketToAddr(socket));
}

function readProp(socket: Bag, own: () => unknown, name: string): unknown {
  return own() || socket[`_${name}`] || '';
}

function findDescriptor(target: object, name: string): PropertyDescriptor | undefined {
  for (let at: object | null = target; at; at = Object.getPrototypeOf(at) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(at, name);
    if (descriptor) return descriptor;
  }
  return undefined;
}

/**
 * Makes `remoteAddress`, `remotePort`, `remoteFamily`, `localAddress` and `localPort` of
 * `socket` fall back to the stream underneath a TLS socket, or to `''`, and returns the same
 * socket. Unlike proxy-packer's, whose getters read themselves and overflow the stack, the
 * getters read the socket's own properties as they were before wrapping.
 */
export function wrapSocket<T extends object>(socket: T): T {
  const s = socket as unknown as Bag;
  for (const name of ADDRESS_NAMES) {
    const before = findDescriptor(socket, name);
    const own = (): unknown => (before ? (before.get ? before.get.call(socket) : before.value) : undefined);
    Object.defineProperty(socket, name, {
      enumerable: false,
      configurable: true,
      get: () => readProp(s, own, name),
    });
  }
  return socket;
}

/** A socket-like stream as {@link createStream} needs it. */
export interface StreamSocketLike {
  write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void): unknown;
  read(size?: number): unknown;
  once(event: 'readable' | 'end', listener: () => void): unknown;
  remoteFamily?: string | undefined;
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localFamily?: string | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
}

/** The Duplex {@link createStream} returns: the socket's address, copied when created. */
export interface AddressedDuplex extends Duplex {
  remoteFamily: string | undefined;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localFamily: string | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
}

/**
 * A Duplex over `socket` that carries a copy of its address fields.
 * @deprecated as in proxy-packer: use {@link wrapSocket}. No warning is printed.
 */
export function createStream(socket: StreamSocketLike): AddressedDuplex {
  let waiting = false;
  // proxy-packer reads once and stalls when nothing is buffered yet; pulling again on
  // 'readable' is what makes data flow. Called from outside _read too, since a _read that
  // pushed nothing is not called again by the stream.
  const pull = (): void => {
    for (;;) {
      const chunk = socket.read();
      if (chunk === null || chunk === undefined) break;
      if (!duplex.push(chunk)) return;
    }
    if (!waiting) {
      waiting = true;
      socket.once('readable', () => {
        waiting = false;
        pull();
      });
    }
  };
  const duplex = new Duplex({
    write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
      socket.write(chunk, encoding, callback);
    },
    read: pull,
  }) as AddressedDuplex;
  socket.once('end', () => duplex.push(null));
  duplex.remoteFamily = socket.remoteFamily;
  duplex.remoteAddress = socket.remoteAddress;
  duplex.remotePort = socket.remotePort;
  duplex.localFamily = socket.localFamily;
  duplex.localAddress = socket.localAddress;
  duplex.localPort = socket.localPort;
  return duplex;
}
