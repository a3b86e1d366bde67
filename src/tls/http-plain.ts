/**
 * Plain-HTTP visitors of a name whose TLS this process terminates: ACME's http-01 validation
 * is answered at `/.well-known/acme-challenge/TOKEN`, every other request is redirected to
 * `https://` on the port it came to (308, so that a POST stays a POST).
 */
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** Answers plain HTTP for terminated names; `challenge(host, token)` gives a key authorization. */
export class PlainHttpResponder {
  readonly #server: Server;

  constructor(challenge: (name: string, token: string) => string | undefined) {
    this.#server = createServer((req, res) => {
      const host = (req.headers.host ?? '').toLowerCase();
      const name = host.replace(/:\d+$/, '');
      const url = req.url ?? '/';
      if (url.startsWith(CHALLENGE_PATH)) {
        const answer = challenge(name, url.slice(CHALLENGE_PATH.length));
        res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'text/plain' });
        res.end(answer ?? 'no such challenge\n');
        return;
      }
      // A relay takes TLS on every port it takes plain HTTP on: a visitor of :8080 goes to
      // https on :8080, one of :80 to the default, 443.
      const port = /:(\d+)$/.exec(host)?.[1];
      const location = `https://${name}${port && port !== '80' ? `:${port}` : ''}${url}`;
      res.writeHead(308, { location, 'content-type': 'text/plain', connection: 'close' });
      res.end(`${location}\n`);
    });
    this.#server.on('clientError', (_error, socket: Duplex) => socket.destroy());
  }

  /** Serves one visitor's plain HTTP stream. */
  serve(stream: Duplex): void {
    this.#server.emit('connection', stream);
  }

  close(): void {
    this.#server.closeAllConnections();
    this.#server.close();
  }
}
