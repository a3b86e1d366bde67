// A tunnel peer that answers every client in upper case, composed from operators with
// backpressure end to end: a client's inbound bytes are taken only while the client may send
// (fromClient, gated by toClient's demand through pull). A reader on the other side that falls
// behind pauses this peer, this peer's held bytes pause the writer, and the process holds a
// bounded amount however much is offered.
//
// Run: npm run build && node examples/operators.mjs     (a self-contained demo, then exits)
//      node examples/operators.mjs --listen 7000         (serves M-PROXY peers on 127.0.0.1:7000)
import net from 'node:net';
import { parseArgs } from 'node:util';
import { EMPTY, catchError, firstValueFrom, map, mergeMap, toArray } from 'rxjs';
import { createTunnel, fromClient, fromSocket, pull, toClient } from 'mproxy';

/**
 * Serves the M-PROXY peer at the other end of `socket`: every client it opens, upper-cased.
 * A client whose answers cannot leave pauses its remote once it holds 256 KiB (1 MiB by
 * default) and resumes it at 64 KiB.
 */
function serveUpperCase(socket) {
  const tunnel = createTunnel(fromSocket(socket), { highWaterMark: 256 * 1024, lowWaterMark: 64 * 1024 });
  // Upper-case every client's bytes, taking them only as fast as the answers can leave.
  tunnel.clients$
    .pipe(
      mergeMap((client) =>
        // A client that fails (its remote sent `error`) ends its own pipeline, not the others.
        pull((ready$) => fromClient(client, ready$).pipe(map(upper)), toClient(client)).pipe(catchError(() => EMPTY)),
      ),
    )
    .subscribe();
  return tunnel;
}

/** ASCII letters upper-cased, byte by byte, into a new buffer (the chunk may still be in use). */
function upper(bytes) {
  const out = Buffer.allocUnsafe(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    out[i] = byte >= 0x61 && byte <= 0x7a ? byte - 0x20 : byte;
  }
  return out;
}

const { values } = parseArgs({ options: { listen: { type: 'string' } } });
const server = net.createServer(serveUpperCase);
await new Promise((resolve) => server.listen(Number(values.listen ?? 0), '127.0.0.1', resolve));

if (values.listen !== undefined) {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
} else {
  // The demo: one peer opens a client, sends a line and ends; the answer comes back upper-cased.
  const socket = net.connect(server.address().port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const tunnel = createTunnel(fromSocket(socket));
  const client = tunnel.open({ family: 'IPv6', address: '2001:db8::7', port: 41000, service: 'tcp', serviceport: 7 });
  const reply = firstValueFrom(client.data$.pipe(toArray()));
  client.write(Buffer.from('composed from operators'));
  client.end();
  console.log(Buffer.concat(await reply).toString());
  tunnel.close();
  server.close();
}
