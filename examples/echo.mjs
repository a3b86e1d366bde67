// Two tunnels over one TCP connection on loopback: the "device" echoes every client back, the
// "relay" opens three clients and prints what comes back. Run: npm run build && node examples/echo.mjs
import net from 'node:net';
import { EMPTY, catchError, firstValueFrom, toArray } from 'rxjs';
import { createTunnel, fromClient, fromSocket, pull, toClient } from 'mproxy';

const server = net.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const accepted = new Promise((resolve) => server.once('connection', resolve));
const socket = net.connect(server.address().port, '127.0.0.1');
await new Promise((resolve) => socket.once('connect', resolve));

// Device side: every client the remote opens is echoed (taking its bytes only as fast as they
// can be sent back), then ended when the remote ends.
const device = createTunnel(fromSocket(await accepted));
device.clients$.subscribe((client) => {
  pull((ready$) => fromClient(client, ready$), toClient(client))
    .pipe(catchError(() => EMPTY))
    .subscribe();
});

// Relay side: open clients as if three visitors had connected, and read their echoes.
const relay = createTunnel(fromSocket(socket));
const replies = await Promise.all(
  [1, 2, 3].map(async (n) => {
    const client = relay.open({ family: 'IPv4', address: '203.0.113.7', port: 40000 + n, service: 'tcp', serviceport: 5050 });
    const echoed = firstValueFrom(client.data$.pipe(toArray()));
    client.write(Buffer.from(`hello from visitor ${n}`));
    client.end();
    return Buffer.concat(await echoed).toString();
  }),
);
for (const reply of replies) console.log(reply);

relay.close();
device.close();
server.close();
