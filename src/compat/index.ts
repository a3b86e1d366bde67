/**
 * `mproxy/compat`: a drop-in for `proxy-packer@2.0.4`. Same bytes, same handler calls, same
 * message objects for every valid input; typed errors where proxy-packer would corrupt the
 * stream or crash. `docs/compat.md` lists every difference.
 *
 * ```ts
 * import Packer from 'mproxy/compat';          // or: const Packer = require('mproxy/compat');
 * const unpacker = Packer.create({ onmessage(msg) { … }, onend(msg) { … } });
 * socket.on('data', (chunk) => unpacker.fns.addChunk(chunk));
 * ws.send(Packer.pack({ family: 'IPv4', address: '10.0.0.7', port: 33046 }, data));
 * ```
 * @packageDocumentation
 */
import { create } from './unpack.js';
import { pack, packHeader } from './pack.js';
import { addrToId, createStream, socketToAddr, socketToId, wrapSocket } from './socket.js';
import { createTransform } from './transform.js';

export { create, pack, packHeader, addrToId, socketToAddr, socketToId, wrapSocket };
export type { CompatDecodeErrorCode } from './unpack.js';
export { PackerTransform, type PackerTransformOptions } from './transform.js';
export type { AddressedDuplex, StreamSocketLike } from './socket.js';
export type * from './types.js';
export { MproxyError, ProtocolError, InvalidFrameError, InvalidOptionError } from '../codec/errors.js';
export type { DecoderOptions } from '../codec/options.js';

/** proxy-packer's `Packer.Stream`: socket wrappers. */
export const Stream = Object.freeze({
  /** The README's name for {@link wrapSocket}. */
  wrapSocket,
  /** @deprecated use {@link wrapSocket}. */
  create: createStream,
});

/** proxy-packer's `Packer.Transform`. */
export const Transform = Object.freeze({
  /** A stream that packs every chunk written to it for one client. */
  create: createTransform,
});

/** The module as proxy-packer exports it, for `import Packer from 'mproxy/compat'`. */
const Packer = Object.freeze({
  create,
  pack,
  packHeader,
  socketToAddr,
  addrToId,
  socketToId,
  wrapSocket,
  Stream,
  Transform,
});

export default Packer;
