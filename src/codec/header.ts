/**
 * Parsing of the text header. Kept apart from the byte state machine so that the compat layer
 * can read the raw fields (it must tell a missing field from an empty one) with the same checks.
 */
import { ProtocolError } from './errors.js';
import { MAX_PORT, SIGNAL_KINDS, type FrameKind } from './frame.js';

/**
 * A header split into its fields and checked. The decoder owns one and parses every header
 * into it (a header is consumed before the next one is read), so builders copy what they keep.
 */
export interface ParsedHeader {
  /** How many fields the header had, 4 to 8: the compat layer tells missing from empty. */
  fieldCount: number;
  family: string;
  address: string;
  /** `family,address,port` exactly as on the wire. */
  id: string;
  port: number | null;
  bodyLength: number;
  /** The service field as on the wire (`connection`, `end`, … or a data service). */
  wireService: string;
  kind: FrameKind;
  serviceport: number | null;
  name: string;
  /** The 8th field of a `connection` frame: the client's original service. */
  originalService: string;
}

export function emptyHeader(): ParsedHeader {
  return {
    fieldCount: 0,
    family: '',
    address: '',
    id: '',
    port: null,
    bodyLength: 0,
    wireService: '',
    kind: 'data',
    serviceport: null,
    name: '',
    originalService: '',
  };
}

const MAX_FIELDS = 8;
const COMMA = 44;
// Comma offsets of the header being parsed; parsing is synchronous, so one array serves all.
const scratchCommas = new Int32Array(MAX_FIELDS);
// ignoreBOM keeps a leading U+FEFF: stripping it would change the family (and so the client id).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type FastSlice = { utf8Slice(start: number, end: number): string };
// Buffer#utf8Slice skips toString()'s argument handling, a good part of a small frame's cost.
const utf8Slice: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<FastSlice>).utf8Slice === 'function'
    ? (buf, start, end) => (buf as unknown as FastSlice).utf8Slice(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);

/**
 * Splits and validates the header in `buf[start, end)`. `maxFrameSize` is enforced here so
 * that an oversized frame is refused before its body is buffered.
 *
 * The bytes are scanned once: commas are found, control characters refused (they can only
 * come from a broken or hostile peer, and would let a name forge log lines or HTTP headers
 * further on), and the numbers read, before one string is made of the whole header.
 */
export function parseHeader(
  buf: Buffer,
  start: number,
  end: number,
  maxFrameSize: number,
  into: ParsedHeader,
): ParsedHeader {
  const commas = scratchCommas;
  let count = 0;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b === COMMA) {
      if (count === MAX_FIELDS - 1) throw badHeader(`has more than ${MAX_FIELDS} fields`, buf, start, end);
      commas[count++] = i;
    } else if (b < 32 || b === 127) {
      throw badHeader('contains a control character', buf, start, end);
    } else if (b > 127) {
      ascii = false;
    }
  }
  if (count < 3) throw badHeader('has fewer than 4 fields (family,address,port,datalen)', buf, start, end);
  for (let k = count; k < MAX_FIELDS; k++) commas[k] = end;
  const c0 = commas[0] as number;
  const c1 = commas[1] as number;
  const c2 = commas[2] as number;
  const c3 = commas[3] as number;
  const c4 = commas[4] as number;
  const c5 = commas[5] as number;
  const c6 = commas[6] as number;

  const bodyLength = readLength(buf, c2 + 1, c3, start, end);
  if (bodyLength > maxFrameSize) {
    throw new ProtocolError(
      'E_FRAME_TOO_LARGE',
      `frame announces ${bodyLength} bytes, more than maxFrameSize (${maxFrameSize})`,
    );
  }
  into.fieldCount = count + 1;
  into.bodyLength = bodyLength;
  into.port = readPort(buf, c1 + 1, c2, 'port', start, end);
  into.serviceport = count >= 5 ? readPort(buf, c4 + 1, c5, 'serviceport', start, end) : null;

  if (ascii) {
    // Byte offsets are string offsets: one string, and cheap slices of it.
    const text = utf8Slice(buf, start, end);
    into.id = text.slice(0, c2 - start);
    into.family = text.slice(0, c0 - start);
    into.address = text.slice(c0 + 1 - start, c1 - start);
    into.wireService = count >= 4 ? text.slice(c3 + 1 - start, c4 - start) : '';
    into.name = count >= 6 ? text.slice(c5 + 1 - start, c6 - start) : '';
    into.originalService = count >= 7 ? text.slice(c6 + 1 - start) : '';
  } else {
    const fields = decodeStrict(buf, start, end).split(',');
    into.family = fields[0] as string;
    into.address = fields[1] as string;
    into.id = `${into.family},${into.address},${fields[2] as string}`;
    into.wireService = fields[4] ?? '';
    into.name = fields[6] ?? '';
    into.originalService = fields[7] ?? '';
  }
  const wireService = into.wireService;
  const kind = (SIGNAL_KINDS.has(wireService) ? wireService : 'data') as FrameKind;
  // Only `connection` carries an 8th field (the original service); on any other frame an 8th
  // field means a value with a comma in it was split, which must not pass silently.
  if (count === MAX_FIELDS - 1 && kind !== 'connection') {
    throw badHeader('has 8 fields but is not a connection frame', buf, start, end);
  }
  into.kind = kind;
  return into;
}

function readPort(buf: Buffer, from: number, to: number, what: string, start: number, end: number): number | null {
  const n = to - from;
  if (n === 0) return null;
  // Canonical decimal only: the port is part of the client id, so `0443` and `443` must not
  // name two different clients.
  let ok = n <= 5 && !(n > 1 && buf[from] === 48);
  let value = 0;
  for (let i = from; ok && i < to; i++) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) ok = false;
    value = value * 10 + d;
  }
  if (!ok || value > MAX_PORT) {
    throw badHeader(`${what} ${JSON.stringify(buf.toString('utf8', from, to))} is not a port 0-65535`, buf, start, end);
  }
  return value;
}

function readLength(buf: Buffer, from: number, to: number, start: number, end: number): number {
  const n = to - from;
  // No digit limit: past 2^53 the value is inexact but still above any maxFrameSize (a safe
  // integer), so a huge datalen is refused as too large rather than as malformed.
  let ok = n > 0;
  let value = 0;
  for (let i = from; ok && i < to; i++) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) ok = false;
    value = value * 10 + d;
  }
  if (!ok) {
    throw badHeader(`datalen ${JSON.stringify(buf.toString('utf8', from, to))} is not a decimal integer`, buf, start, end);
  }
  return value;
}

function decodeStrict(buf: Buffer, start: number, end: number): string {
  try {
    return strictUtf8.decode(buf.subarray(start, end));
  } catch (cause) {
    throw new ProtocolError('E_BAD_HEADER', 'M-PROXY header is not valid UTF-8', { cause });
  }
}

function badHeader(why: string, buf: Buffer, start: number, end: number): ProtocolError {
  const text = buf.toString('utf8', start, Math.min(end, start + 80));
  const shown = end - start > 80 ? `${text}…` : text;
  return new ProtocolError('E_BAD_HEADER', `bad M-PROXY header ${JSON.stringify(shown)}: ${why}`);
}
