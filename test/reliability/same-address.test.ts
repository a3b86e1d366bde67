/**
 * One device's tunnel carries the visitors of every port it is reached on, and Linux gives one
 * source port to connections to different destinations: a visitor on a claimed TCP port and an
 * HTTP visitor from the same address and port are two clients of one tunnel at once.
 */
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import { expect, it } from 'vitest';
import { issueToken } from '../../src/index.js';
import { SECRET, defer, echoServer, freePort, memoryLogger, serve, startDevice, startRelay, until } from './helpers.js';

it('serves a TCP visitor and an HTTP visitor that share one address and port, the later with the next port number', async () => {
  const log = memoryLogger();
  const tcpPort = await freePort();
  const relay = await startRelay({ logger: log, tcpPorts: `${tcpPort}` });
  const { port: httpPort } = await serve(createHttpServer((req, res) => res.end(`hello from ${req.headers.host ?? '?'}`)));
  const { port: echoPort } = await echoServer();
  const token = await issueToken(SECRET, { domains: ['legit.localhost'], ports: [tcpPort], sub: 'legit' });
  const device = await startDevice(relay, { token, forwards: [`http:legit.localhost=127.0.0.1:${httpPort}`, `tcp:${tcpPort}=127.0.0.1:${echoPort}`] });
  await until(() => relay.ports.tcp.includes(tcpPort), 'the relay listening on the claimed TCP port');
  const seen: number[] = [];
  device.tunnel?.clients$.subscribe((client) => seen.push(client.meta.port ?? -1));

  const localPort = await freePort();
  const tcp = net.connect({ host: '127.0.0.1', port: tcpPort, localAddress: '127.0.0.1', localPort });
  defer(() => void tcp.destroy());
  tcp.on('error', () => undefined);
  await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
  tcp.write('ping');
  await new Promise<void>((resolve) => tcp.once('data', () => resolve()));

  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: relay.addresses.public.port, localAddress: '127.0.0.1', localPort }, () =>
      socket.end('GET / HTTP/1.1\r\nHost: legit.localhost\r\nConnection: close\r\n\r\n'),
    );
    defer(() => void socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
  expect(reply).toMatch(/^HTTP\/1.1 200[\s\S]*hello from legit.localhost/);
  expect(seen).toEqual([localPort, localPort + 1]);
  expect(log.entries.filter((entry) => entry.context['err'])).toEqual([]);
});
