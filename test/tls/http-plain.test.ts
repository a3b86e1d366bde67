/**
 * The plain-HTTP side of a name the device terminates: ACME http-01 answers, and a redirect to
 * https on the port the visitor came to (a relay takes TLS wherever it takes HTTP).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { PlainHttpResponder } from '../../src/tls/http-plain.js';
import { defer, listen } from '../support/index.js';

async function ask(host: string, path: string): Promise<string> {
  const responder = new PlainHttpResponder((name, token) => (name === 'app.example.test' && token === 'ok' ? 'ok.thumbprint' : undefined));
  defer(async () => responder.close());
  const port = await listen(net.createServer((socket) => responder.serve(socket)), defer);
  const socket = net.connect(port, '127.0.0.1');
  socket.end(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

describe('PlainHttpResponder', () => {
  it('redirects to https on the port the visitor came to, and port 80 to the default', async () => {
    const cases: [string, string][] = [
      ['app.example.test', 'https://app.example.test/a?b=1'],
      ['APP.example.test:80', 'https://app.example.test/a?b=1'],
      ['app.example.test:8080', 'https://app.example.test:8080/a?b=1'],
    ];
    for (const [host, location] of cases) {
      const answer = await ask(host, '/a?b=1');
      expect(answer, host).toMatch(/^HTTP\/1\.1 308 /);
      expect(answer, host).toContain(`\r\nlocation: ${location}\r\n`);
    }
  });

  it('answers an http-01 challenge it knows, and 404 to one it does not', async () => {
    expect(await ask('app.example.test:8080', '/.well-known/acme-challenge/ok')).toMatch(/^HTTP\/1\.1 200 [^]*\r\nok\.thumbprint\r\n/);
    expect(await ask('app.example.test', '/.well-known/acme-challenge/nope')).toMatch(/^HTTP\/1\.1 404 /);
  });
});
