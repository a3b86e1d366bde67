// A tunnel peer composed from operators alone: bytes → frames → one group per client → frames
// → bytes. It upper-cases every client's bytes and ends each client when the remote does.
// The other end is an ordinary tunnel. Run: npm run build && node examples/operators.mjs
import net from 'node:net';
import { concat, defer, filter, firstValueFrom, map, mergeMap, of, tap, toArray } from 'rxjs';
import { createTunnel, decodeFrames, encodeFrames, fromSocket, groupByClient } from 'mproxy';

const server = net.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const accepted = new Promise((resolve) => server.once('connection', resolve));
const socket = net.connect(server.address().port, '127.0.0.1');
await new Promise((resolve) => socket.once('connect', resolve));

const transport = fromSocket(await accepted);
transport.incoming$
  .pipe(
    decodeFrames(),
    groupByClient(),
    mergeMap((client$) => {
      let first;
      return concat(
        client$.pipe(
          tap((frame) => (first ??= frame)),
          filter((frame) => frame.kind === 'data'),
          map((frame) => ({ ...frame, data: upper(frame.data) })),
        ),
        // The group completes on the client's `end`: answer with an `end` of our own.
        defer(() => of({ ...first, kind: 'end', data: new Uint8Array(0) })),
      );
    }),
    encodeFrames(),
  )
  .subscribe((chunk) => transport.write(chunk));

const tunnel = createTunnel(fromSocket(socket));
const client = tunnel.open({ family: 'IPv6', address: '2001:db8::7', port: 41000, service: 'tcp', serviceport: 7 });
const reply = firstValueFrom(client.data$.pipe(toArray()));
client.write(Buffer.from('composed from operators'));
client.end();
console.log(Buffer.concat(await reply).toString());

tunnel.close();
transport.close();
server.close();

function upper(bytes) {
  return Buffer.from(Buffer.from(bytes).toString('utf8').toUpperCase());
}

