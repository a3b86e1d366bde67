/**
 * One device's tunnel carries the visitors of every port it is reached on, and Linux gives one
 * source port to connections to different destinations (and a UDP socket may have the number a
 * TCP connection has): two visitors from the same address and port are two clients of one
 * tunnel at once. The later one is opened with the next port number, never dropped.
 */
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import { expect, it } from 'vitest';
import { issueToken } from '../../src/index.js';
import { SECRET, defer, echoServer, freePort, memoryLogger, serve, startDevice, startRelay, until } from './helpers.js';

/** A TCP visitor of `port` from 127.0.0.1:`localPort`, open, whose first bytes came back. */
async function echoedVisitor(port: number, localPort: number): Promise<void> {
  const tcp = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort });
  defer(() => void tcp.destroy());
  tcp.on('error', () => undefined);
  await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
  tcp.write('ping');
  await new Promise<void>((resolve) => tcp.once('data', () => resolve()));
}

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
  await echoedVisitor(tcpPort, localPort);

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

it('serves a UDP visitor whose address and port a TCP visitor of the same device has', async () => {
  const log = memoryLogger();
  const tcpPort = await freePort();
  const udpPort = await freePort('udp');
  const relay = await startRelay({ logger: log, tcpPorts: `${tcpPort}`, udpPorts: `${udpPort}` });
  const { port: echoPort } = await echoServer();
  const local = createSocket('udp4');
  local.on('message', (datagram, from) => local.send(Buffer.concat([Buffer.from('echo:'), datagram]), from.port, from.address));
  await new Promise<void>((resolve) => local.bind(0, '127.0.0.1', resolve));
  defer(() => new Promise<void>((resolve) => local.close(() => resolve())));
  const token = await issueToken(SECRET, { ports: [tcpPort, udpPort], sub: 'both' });
  const device = await startDevice(relay, { token, forwards: [`tcp:${tcpPort}=127.0.0.1:${echoPort}`, `udp:${udpPort}=127.0.0.1:${local.address().port}`] });
  await until(() => relay.ports.tcp.includes(tcpPort) && relay.ports.udp.includes(udpPort), 'the relay listening on both claimed ports');
  const seen: string[] = [];
  device.tunnel?.clients$.subscribe((client) => seen.push(`${client.meta.service}:${client.meta.port ?? -1}`));

  const visitor = createSocket('udp4');
  await new Promise<void>((resolve) => visitor.bind(0, '127.0.0.1', resolve));
  defer(() => new Promise<void>((resolve) => visitor.close(() => resolve())));
  const localPort = visitor.address().port;
  await echoedVisitor(tcpPort, localPort);

  const answer = new Promise<string>((resolve) => visitor.once('message', (datagram) => resolve(datagram.toString())));
  visitor.send('hello', udpPort, '127.0.0.1');
  expect(await answer).toBe('echo:hello');
  expect(seen).toEqual([`tcp:${localPort}`, `udp:${localPort + 1}`]);
  expect(log.entries.filter((entry) => entry.context['err'])).toEqual([]);
});
