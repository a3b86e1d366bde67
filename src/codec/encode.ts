/**
 * Frame → bytes. The header is small and built fresh; the body is never copied by
 * {@link encodeFrameParts}, so a writer can send both with `writev`/cork.
 */
import { InvalidFrameError } from './errors.js';
import { allocFromSlab } from './slab.js';
import { MAX_HEADER_BYTES, MAX_PORT, SIGNAL_KINDS, VERSION_BYTE, type FrameInit } from './frame.js';

/** A frame's bytes in two parts: the `0xfe`, length and header; and the body, untouched. */
export interface EncodedFrame {
  readonly header: Uint8Array;
  readonly body: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Encodes a frame into one buffer (header and body together). Prefer {@link encodeFrameParts}
 * for large bodies that you can write in two pieces.
 * @throws {InvalidFrameError} `E_INVALID_FIELD`, `E_INVALID_FRAME` or `E_HEADER_TOO_LONG`.
 */
export function encodeFrame(frame: FrameInit): Uint8Array {
  const body = frame.data ?? EMPTY;
  return frameOfHeader(headerOf(frame, body.length), body);
}

/**
 * Encodes a frame's header and returns it with the body as given (no copy).
 * @throws {InvalidFrameError} as {@link encodeFrame}.
 */
export function encodeFrameParts(frame: FrameInit): EncodedFrame {
  const body = frame.data ?? EMPTY;
  return { header: frameOfHeader(headerOf(frame, body.length)), body };
}

/**
 * A frame's bytes from its header text (made by {@link headerOf}, or edited from it: the compat
 * layer puts services where the reference does) and, when given, its body: `0xfe`, the length
 * byte, the header, the body copied after it. Without a body, the header alone.
 * @throws {InvalidFrameError} `E_HEADER_TOO_LONG` when the header passes 255 bytes.
 */
export function frameOfHeader(text: string, body?: Uint8Array): Buffer {
  const headerBytes = byteLength(text);
  const size = 2 + headerBytes + (body ? body.length : 0);
  const out = body ? allocFromSlab(size) : Buffer.allocUnsafe(size);
  writeHeader(out, text, headerBytes);
  if (body) out.set(body, 2 + headerBytes);
  return out;
}

/** The header text of a frame, as the reference writes it for the same frame. */
export function headerOf(frame: FrameInit, bodyLength: number): string {
  const kind = frame.kind;
  if (kind === 'control') return `,,,${bodyLength},control`;
  const prefix = `${field(frame.family, 'family')},${field(frame.address, 'address')},${portField(frame.port, 'port')},${bodyLength}`;
  const serviceport = portField(frame.serviceport, 'serviceport');
  const name = field(frame.name, 'name');
  switch (kind) {
    case 'data': {
      const service = field(frame.service, 'service');
      if (SIGNAL_KINDS.has(service)) {
        throw new InvalidFrameError(
          'E_INVALID_FRAME',
          `a data frame cannot have service ${JSON.stringify(service)}: it would decode as a ${service} frame`,
        );
      }
      return `${prefix},${service},${serviceport},${name}`;
    }
    case 'connection':
      return `${prefix},connection,${serviceport},${name},${field(frame.service, 'service')}`;
    case 'end':
    case 'error':
    case 'pause':
    case 'resume':
      return `${prefix},${kind},${serviceport},${name}`;
    default:
      throw new InvalidFrameError('E_INVALID_FRAME', `unknown frame kind ${JSON.stringify(kind)}`);
  }
}

// A comma would split the field in two on the other side; a control character has no business
// in an address or a name and could forge log lines. A plain loop beats a regex on such short
// strings.
function field(value: string | undefined, what: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    throw new InvalidFrameError('E_INVALID_FIELD', `${what} must be a string, got ${typeof value}`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44 || c < 32 || c === 127) {
      throw new InvalidFrameError(
        'E_INVALID_FIELD',
        `${what} ${JSON.stringify(value)} contains a comma or a control character`,
      );
    }
    // A lone surrogate has no UTF-8 form: it would be sent as U+FFFD and decode as another value.
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        throw new InvalidFrameError('E_INVALID_FIELD', `${what} ${JSON.stringify(value)} contains a lone surrogate`);
      }
      i++;
    }
  }
  return value;
}

function portField(value: number | null | undefined, what: string): string {
  if (value === undefined || value === null) return '';
  if (!Number.isInteger(value) || value < 0 || value > MAX_PORT) {
    throw new InvalidFrameError('E_INVALID_FIELD', `${what} ${String(value)} is not an integer 0-65535`);
  }
  return String(value);
}

function byteLength(text: string): number {
  const n = Buffer.byteLength(text, 'utf8');
  if (n > MAX_HEADER_BYTES) {
    throw new InvalidFrameError(
      'E_HEADER_TOO_LONG',
      `M-PROXY header is ${n} bytes, more than the ${MAX_HEADER_BYTES} its length byte can say`,
    );
  }
  return n;
}

type FastWrite = { latin1Write(text: string, offset: number): number; utf8Write(text: string, offset: number): number };
// Buffer#latin1Write/utf8Write skip write()'s argument handling, a third of a header's cost.
const fast = typeof (Buffer.prototype as unknown as Partial<FastWrite>).latin1Write === 'function';

function writeHeader(out: Buffer, text: string, headerBytes: number): void {
  out[0] = VERSION_BYTE;
  out[1] = headerBytes;
  if (!fast) out.write(text, 2, 'utf8');
  // As many bytes as characters: pure ASCII, where latin1 and UTF-8 agree.
  else if (headerBytes === text.length) (out as unknown as FastWrite).latin1Write(text, 2);
  else (out as unknown as FastWrite).utf8Write(text, 2);
}
