/**
 * `pack` and `packHeader`: proxy-packer's encoder, writing the same bytes through the codec's
 * checked header builder. Where proxy-packer would write a corrupt header (too long, a comma or
 * control character in a field, a port that is not one), these throw instead.
 */
import { asBuffer } from '../codec/bytes.js';
import { encodeFrame, encodeFrameParts, frameOfHeader, headerOf } from '../codec/encode.js';
import { InvalidFrameError } from '../codec/errors.js';
import { SIGNAL_KINDS, type FrameInit, type FrameKind } from '../codec/frame.js';
import { canonicalPort } from '../codec/port.js';
import type { PackerMeta } from './types.js';

/**
 * Builds an M-PROXY frame header for `meta`, optionally followed by the body, exactly as
 * proxy-packer@2.0.4 does.
 *
 * - `data` that is not a Buffer is sent as `JSON.stringify(data)` (so are strings and plain
 *   `Uint8Array`s, as in proxy-packer); a falsy `data` is no body.
 * - `service` `'control'` writes `,,,<len>,control` and ignores `meta`; `'connection'` writes
 *   the 8-field connection header with `meta.service` last; any other non-empty `service` is
 *   **stored into `meta.service`** (proxy-packer mutates its argument, and callers rely on it)
 *   and written as the header's service.
 * - `oldways` (used by {@link pack}): an empty or missing body is sent as one space.
 *
 * @param meta the client's address and routing fields.
 * @param data the body: a Buffer, or any JSON-serialisable value.
 * @param service the frame's service, or nothing for data.
 * @param andBody when true, the body follows the header in the returned buffer.
 * @param oldways when true, an empty body becomes `' '`.
 * @returns a new Buffer: `0xfe`, the header length, the header, and the body if `andBody`.
 * @throws {InvalidFrameError} `E_INVALID_FIELD` (a field with a comma or control character, a
 *   port that is not 0-65535 in canonical decimal, data that cannot be serialised),
 *   `E_HEADER_TOO_LONG` (more than 255 bytes of header).
 */
export function packHeader(
  meta: PackerMeta,
  data?: unknown,
  service?: string | null,
  andBody?: boolean,
  oldways?: boolean,
): Buffer {
  let body: unknown = data;
  if (oldways && !body) body = Buffer.from(' ');
  if (body && !Buffer.isBuffer(body)) body = jsonBody(body);
  if (oldways && !(body as Buffer).byteLength) body = Buffer.from(' ');
  const bytes = (body || undefined) as Buffer | undefined;

  if (service && service !== 'control' && service !== 'connection') meta.service = service;

  const frame = frameOf(meta, service, bytes);
  if (frame === undefined) return oddService(meta, bytes, andBody);
  if (andBody) return asBuffer(encodeFrame(frame));
  // Header only: the body lends its length and is left to the caller to send.
  return asBuffer(encodeFrameParts(frame).header);
}

/**
 * Header and body in one buffer, the empty body sent as one space: proxy-packer's `pack`,
 * i.e. `packHeader(meta, data, service, true, true)`.
 * @throws {InvalidFrameError} as {@link packHeader}.
 */
export function pack(meta: PackerMeta, data?: unknown, service?: string | null): Buffer {
  return packHeader(meta, data, service, true, true);
}

function jsonBody(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new InvalidFrameError('E_INVALID_FIELD', `data cannot be serialised as JSON: ${String(cause)}`, { cause });
  }
  if (text === undefined) {
    throw new InvalidFrameError('E_INVALID_FIELD', `data of type ${typeof value} has no JSON form`);
  }
  return Buffer.from(text);
}

/**
 * The codec frame proxy-packer would write, or `undefined` when `meta.service` names
 * `control`/`connection` without the `service` argument saying so: proxy-packer then writes
 * an ordinary 7-field header, a layout the codec does not build (see {@link oddService}).
 */
function frameOf(meta: PackerMeta, service: string | null | undefined, body: Buffer | undefined): FrameInit | undefined {
  if (service === 'control') return { kind: 'control', data: body };
  const base = {
    family: text(meta.family, 'family'),
    address: text(meta.address, 'address'),
    port: port(meta.port, 'port'),
    // proxy-packer writes `meta.serviceport || ''` and `meta.name || ''`: 0 is no port there.
    serviceport: port(meta.serviceport || null, 'serviceport'),
    name: text(meta.name || null, 'name'),
    data: body,
  };
  const metaService = text(meta.service || null, 'service');
  if (service === 'connection') return { ...base, kind: 'connection', service: metaService };
  if (metaService === 'control' || metaService === 'connection') return undefined;
  const kind = (SIGNAL_KINDS.has(metaService ?? '') ? metaService : 'data') as FrameKind;
  return kind === 'data' ? { ...base, kind, service: metaService } : { ...base, kind };
}

/**
 * `meta.service` is `control` or `connection` but `service` is not: proxy-packer writes
 * `family,address,port,len,<meta.service>,serviceport,name`. The codec checks the fields as
 * for an `end` frame, whose header has the same layout, and the service is put in its place.
 */
function oddService(meta: PackerMeta, body: Buffer | undefined, andBody: boolean | undefined): Buffer {
  const metaService = meta.service as 'control' | 'connection';
  const size = body ? body.byteLength : 0;
  const frame = frameOf({ ...meta, service: 'end' }, undefined, body) as FrameInit;
  const endText = headerOf(frame, size);
  const at = nthComma(endText, 4) + 1;
  const text = `${endText.slice(0, at)}${metaService}${endText.slice(at + 'end'.length)}`;
  return frameOfHeader(text, andBody ? (body ?? NO_BODY) : undefined);
}

const NO_BODY = new Uint8Array(0);

function nthComma(s: string, n: number): number {
  let at = -1;
  for (let k = 0; k < n; k++) at = s.indexOf(',', at + 1);
  return at;
}

// Array#join writes null and undefined as ''; anything else that is not a string would be
// written as whatever String() makes of it, which no peer can mean.
function text(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  throw new InvalidFrameError('E_INVALID_FIELD', `${what} must be a string, got ${typeof value}`);
}

// Decoded messages carry ports as strings, so canonical decimal strings are taken too; other
// strings ('0443', 'abc') would not decode to the same client id and are refused.
function port(value: unknown, what: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  const checked = canonicalPort(value);
  if (checked !== undefined) return checked;
  throw new InvalidFrameError(
    'E_INVALID_FIELD',
    `${what} ${typeof value === 'string' ? JSON.stringify(value) : String(value)} is not a port 0-65535 in canonical decimal`,
  );
}
