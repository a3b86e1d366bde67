/**
 * The short HTML error pages the relay and the device answer HTTP visitors with, when a name
 * cannot be served. They never name an internal address: a visitor learns only that the name
 * is not served now, and on which side.
 */

/** A complete HTTP/1.1 response (head and body) with `Connection: close`. */
export function errorPageResponse(status: string, text: string): string {
  const body = `<!doctype html><title>${status}</title><h1>${status}</h1><p>${escapeHtml(text)}</p>\n`;
  return (
    `HTTP/1.1 ${status}\r\n` +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
