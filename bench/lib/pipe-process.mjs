// One relaying hop as a process of its own, made of nothing but node:net: the baseline of
// bench/user.mjs, the reference hop of bench/cluster.mjs. `node bench/lib/pipe-process.mjs
// TARGET_PORT [TARGET_HOST]` listens on 127.0.0.1 (a free port), joins every connection to a
// new connection to TARGET_HOST:TARGET_PORT (default host 127.0.0.1) with
// `a.pipe(b).pipe(a)` (noDelay on both, as mproxy's sockets have), and prints
// `listening PORT` on stdout once ready. Runs with Node's defaults, as the CLI does.
import net from 'node:net';
import { join } from './pipe-join.mjs';

const HOST = '127.0.0.1';
const target = Number(process.argv[2]);
const targetHost = process.argv[3] ?? HOST;
if (!Number.isInteger(target) || target <= 0) {
  console.error('usage: node pipe-process.mjs TARGET_PORT [TARGET_HOST]');
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.on('error', () => {});
  socket.setNoDelay(true);
  const out = net.connect({ port: target, host: targetHost, noDelay: true });
  out.on('error', () => {});
  join(socket, out);
});
server.listen(0, HOST, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
