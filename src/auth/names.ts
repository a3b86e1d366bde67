/**
 * Domain names as tokens claim them and as visitors ask for them (SNI, `Host:`).
 *
 * One form is compared everywhere: lowercase ASCII, no trailing dot. Internationalised names
 * must arrive in their punycode (`xn--…`) form, as they do in SNI and `Host:`; a token that
 * claims a Unicode name is refused rather than silently never matching.
 *
 * **Wildcard rule.** A pattern `*.example.com` matches every name that ends in `.example.com`
 * with at least one label in front of it, at any depth: `a.example.com` and `a.b.example.com`,
 * but not `example.com` itself. This is how the telebit relay looks names up (it strips labels
 * from the left until a `*.` pattern matches). The `*` must be a whole label and the leftmost
 * one; `*` alone, `a*.example.com` and `a.*.example.com` are not valid patterns.
 */

/** Longest name DNS can carry in text form (RFC 1035, without the trailing dot). */
const MAX_NAME_LENGTH = 253;
/** Longest single label (RFC 1035). */
const MAX_LABEL_LENGTH = 63;
/** Letters, digits and hyphens, not starting or ending with a hyphen (RFC 1123 host labels). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * The form names are compared in: lowercase, one trailing dot (the DNS root) removed,
 * surrounding whitespace trimmed. It does not validate; see {@link isValidName}.
 */
export function normalizeName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Options of {@link isValidName}. */
export interface NameOptions {
  /** Accept a wildcard pattern (`*.example.com`) as well as a plain name. Default `false`. */
  wildcard?: boolean;
}

/**
 * Whether `normalizeName(name)` is a valid host name: 1–253 characters, labels of 1–63
 * letters, digits and hyphens (not at either end of a label). With `{ wildcard: true }`, a
 * pattern `*.<valid name>` is accepted too. Single-label names (`localhost`) are valid.
 */
export function isValidName(name: string, options: NameOptions = {}): boolean {
  const normalized = normalizeName(name);
  if (normalized.length === 0 || normalized.length > MAX_NAME_LENGTH) return false;
  const labels = normalized.split('.');
  if (labels[0] === '*') {
    if (options.wildcard !== true) return false;
    labels.shift();
    // `*` alone would claim every name the relay serves; a suffix is required.
    if (labels.length === 0) return false;
  }
  return labels.every((label) => label.length <= MAX_LABEL_LENGTH && LABEL.test(label));
}

/** Whether `pattern` is a wildcard pattern (`*.example.com`). Does not validate it. */
export function isWildcard(pattern: string): boolean {
  return pattern.startsWith('*.');
}

/**
 * Whether `name` is covered by `pattern`: equal to it, or, for a wildcard pattern, one or more
 * labels in front of its suffix (see the module comment). Both sides are normalised first. A
 * wildcard in `name` is compared literally, never expanded.
 */
export function matchesName(pattern: string, name: string): boolean {
  const p = normalizeName(pattern);
  const n = normalizeName(name);
  if (p === n) return true;
  if (!isWildcard(p)) return false;
  const suffix = p.slice(1); // ".example.com", so "example.com" itself cannot match
  return n.length > suffix.length && n.endsWith(suffix);
}

/**
 * How specific a pattern is, for most-specific-first ordering: `Infinity` for an exact name
 * (it always wins), the number of labels after the `*` for a wildcard (`*.a.example.com` → 3,
 * `*.example.com` → 2). Of two wildcards that match the same name, the one with more labels is
 * the longer suffix, so sorting by descending specificity gives longest-wildcard-first.
 */
export function wildcardSpecificity(pattern: string): number {
  const p = normalizeName(pattern);
  if (!isWildcard(p)) return Number.POSITIVE_INFINITY;
  return p.split('.').length - 1;
}

/**
 * The wildcard patterns that could match `name`, most specific first: for `a.b.example.com`,
 * `*.b.example.com`, `*.example.com`, `*.com`. Lets a lookup probe a map instead of scanning
 * every pattern.
 */
export function wildcardCandidates(name: string): string[] {
  const labels = normalizeName(name).split('.');
  const candidates: string[] = [];
  for (let i = 1; i < labels.length; i++) candidates.push(`*.${labels.slice(i).join('.')}`);
  return candidates;
}
