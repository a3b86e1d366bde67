/** The page an HTTP visitor gets when no device serves the name it asked for. */
export function badGatewayResponse(name: string): string {
  const body =
    `<!doctype html><title>502 Bad Gateway</title><h1>502 Bad Gateway</h1>` +
    `<p>${escapeHtml(name || 'This name')} is served by a device that is not connected.</p>\n`;
  return (
    'HTTP/1.1 502 Bad Gateway\r\n' +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
