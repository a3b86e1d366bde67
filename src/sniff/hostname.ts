/**
 * The one rule for "is this a name we can route by", shared by the SNI and `Host:` readers so
 * that both sides of the relay agree on what a name is.
 */

/** Longest DNS name in text form, without the trailing dot. */
const MAX_NAME = 253;
const MAX_LABEL = 63;

/**
 * Reads `bytes[from, to)` as a DNS host name and returns it lowercased, or `undefined` when it
 * is not one: 1 to 253 characters, dot-separated labels of 1 to 63 letters, digits, `-` or `_`,
 * no label starting or ending with `-`. `_` is allowed because real names carry it (service
 * labels, some internal hosts) and it cannot hurt a header or a log line; anything else (spaces,
 * commas, non-ASCII, an empty label) is refused, since the name ends up in an M-PROXY header.
 * @internal
 */
export function hostnameAt(bytes: Uint8Array, from: number, to: number): string | undefined {
  const n = to - from;
  if (n < 1 || n > MAX_NAME) return undefined;
  let out = '';
  let labelStart = from;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 46 : (bytes[i] as number);
    if (c === 46) {
      const labelLength = i - labelStart;
      if (labelLength < 1 || labelLength > MAX_LABEL) return undefined;
      if (bytes[labelStart] === 45 || bytes[i - 1] === 45) return undefined;
      labelStart = i + 1;
      if (i < to) out += '.';
      continue;
    }
    if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95) out += String.fromCharCode(c);
    else return undefined;
  }
  return out;
}
