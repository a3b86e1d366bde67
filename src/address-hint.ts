/**
 * What to add to a refusal of an address written as text (`host:port`, or a URL): an IPv6
 * address without its brackets is the usual mistake, and its colons make any other message
 * about the port misleading. Empty when `text` is not that mistake.
 */
export function bracketHint(text: string): string {
  // Of a URL, the host and port only: not the scheme, the user and password, the path or query.
  const address = text
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/^[^@/?#]*@/, '')
    .replace(/[/?#][^]*$/, '');
  return !address.includes('[') && (address.match(/:/g)?.length ?? 0) >= 2 ? ' (an IPv6 address goes in brackets: [::1]:8080)' : '';
}
