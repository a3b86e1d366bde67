/** proxy-packer's `Transform.create`: a stream that packs each chunk written to it. */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { pack } from './pack.js';
import type { PackerMeta } from './types.js';

/** What `Transform.create` takes; the rest is passed on to Node's `Transform`. */
export interface PackerTransformOptions extends TransformOptions {
  /** The client every chunk is packed for. Its empty routing fields are filled in (mutated). */
  address: PackerMeta;
  /** Used when `address.service` is empty (for example `'https'`). */
  service?: string | undefined;
  /** Used when `address.serviceport` is empty. */
  serviceport?: number | string | undefined;
  /** Used when `address.name` is empty. */
  name?: string | undefined;
}

/**
 * Packs every chunk written to it with {@link pack} for one client. As in proxy-packer, the
 * options' `service`, `serviceport` and `name` are written into `address` when it lacks them.
 */
export class PackerTransform extends Transform {
  readonly #address: PackerMeta;
  readonly #service: string | undefined;
  readonly #serviceport: number | string | undefined;
  readonly #name: string | undefined;

  constructor(options: PackerTransformOptions) {
    super(options);
    this.#address = options.address;
    this.#service = options.service;
    this.#serviceport = options.serviceport;
    this.#name = options.name;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    const address = this.#address;
    address.service = address.service || this.#service;
    address.serviceport = address.serviceport || this.#serviceport;
    address.name = address.name || this.#name;
    let framed: Buffer;
    try {
      framed = pack(address, chunk);
    } catch (error) {
      // proxy-packer throws out of write(); a stream reports it as its 'error' instead.
      callback(error as Error);
      return;
    }
    callback(null, framed);
  }
}

/**
 * Creates a {@link PackerTransform}.
 * @throws nothing itself; a chunk that cannot be packed makes the stream emit `'error'`
 *   with an {@link InvalidFrameError}.
 */
export function createTransform(options: PackerTransformOptions): PackerTransform {
  return new PackerTransform(options);
}
