/**
 * Memory for buffers the codec must fill itself: bodies that straddle input chunks, and whole
 * encoded frames. Carving them from a shared slab (as Node's Buffer pool does below 4 KiB, here
 * up to 64 KiB) replaces one malloc, one page-faulting allocation and one GC-tracked ArrayBuffer
 * per frame with one per slab. The price: a buffer kept alive keeps its slab (512 KiB) alive.
 */
const SLAB_SIZE = 512 * 1024;
/** Larger buffers get memory of their own. */
const SLAB_MAX_PIECE = 64 * 1024 + 512;
let slab: Buffer | undefined;
let offset = 0;

/** `n` bytes of uninitialised memory, from the slab when small enough. */
export function allocFromSlab(n: number): Buffer {
  if (n > SLAB_MAX_PIECE || n <= 4096) return Buffer.allocUnsafe(n);
  if (!slab || offset + n > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    offset = 0;
  }
  const piece = slab.subarray(offset, offset + n);
  // 8-byte alignment keeps typed-array views over the pieces possible.
  offset += (n + 7) & ~7;
  return piece;
}
