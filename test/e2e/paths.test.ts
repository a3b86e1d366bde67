/**
 * End to end: every data path through a relay and a device, in-process on 127.0.0.1.
 *
 * - HTTPS by SNI, TLS passed through untouched: the visitor verifies the local server's own
 *   certificate, which only works if the relay (that has no key) never terminates TLS.
 * - HTTP by Host: keep-alive off and on, large bodies, a Host with a port, wildcards, 502.
 * - TCP and UDP by claimed port.
 * - Many visitors at once, round-robin between devices of one subject, and no client left
 *   behind on either side of the tunnel once the visitors are done.
 */
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { filter, firstValueFrom } from 'rxjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Tunnel, TunnelOptions } from '../../src/rx/index.js';
import {
  createDevice,
  createRelay,
  issueToken,
  type Device,
  type DeviceOptions,
  type Relay,
  type RelayOptions,
} from '../../src/index.js';
import { defer, freePort, selfSignedCertificate, sha256, until } from '../support/index.js';

// The relay keeps its device tunnels to itself: record them as they are made (the relay's
// are the ones that refuse data for unknown clients), to check that they end up empty.
const relayTunnels = vi.hoisted(() => new Set<Tunnel>());
vi.mock('../../src/rx/tunnel.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/rx/tunnel.js')>();
  return {
    ...original,
    createTunnel: (...args: Parameters<typeof original.createTunnel>): Tunnel => {
      const tunnel = original.createTunnel(...args);
      if ((args[1] as TunnelOptions | undefined)?.unknownData === 'reject') {
        relayTunnels.add(tunnel);
        tunnel.closed$.subscribe(() => relayTunnels.delete(tunnel));
      }
      return tunnel;
    },
  };
});

const SECRET = 'paths-test-secret-of-32-bytes-or-more';
const KiB = 1024;
const MiB = 1024 * KiB;

// One certificate for the whole file: `app.localhost`, self-signed, trusted by the visitors.
let pems: { key: string; cert: string; fingerprint256: string };
beforeAll(async () => {
  const generated = await selfSignedCertificate('app.localhost');
  pems = { ...generated, fingerprint256: new X509Certificate(generated.cert).fingerprint256 };
});

// Helpers: servers, relay, device, all closed after each test

/** Listens on 127.0.0.1:0; at cleanup destroys every connection it took and closes. */
async function serve(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

async function startRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => relay.close());
  return relay;
}

async function startDevice(relay: Relay, options: Omit<DeviceOptions, 'relay'>): Promise<Device> {
  const device = createDevice({ relay: relay.tunnelUrl, reconnect: false, ...options });
  defer(() => device.close());
  await device.online();
  return device;
}

/** Writes `data` on a connected socket, ends it, and resolves with everything read back. */
function exchange(socket: net.Socket, data: Buffer, connectEvent: 'connect' | 'secureConnect'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on(connectEvent, () => socket.end(data));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before the end of the echo')));
  });
}

/** A TLS visitor for `app.localhost` that verifies the certificate against ours only. */
function tlsVisitor(relay: Relay): tls.TLSSocket {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: relay.addresses.public.port,
    servername: 'app.localhost',
    ca: [pems.cert],
    rejectUnauthorized: true,
  });
  defer(() => void socket.destroy());
  return socket;
}

/** A TLS echo server with our certificate. */
async function tlsEchoServer(): Promise<number> {
  return serve(tls.createServer({ key: pems.key, cert: pems.cert }, (socket) => socket.pipe(socket)));
}

/** A TCP echo server. */
async function tcpEchoServer(): Promise<number> {
  return serve(net.createServer((socket) => socket.pipe(socket)));
}

interface Echoed {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly length: number;
  readonly sha256: string;
  /** The port of the device's connection to this server: the same for one kept-alive visitor. */
  readonly remotePort: number;
}

/** An HTTP server that describes each request it got (hashing the body) as JSON. */
async function describingServer(id: string): Promise<number> {
  return serve(
    http.createServer((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () => {
        const echoed: Echoed = {
          id,
          method: req.method ?? '',
          url: req.url ?? '',
          host: req.headers.host ?? '',
          length,
          sha256: hash.digest('hex'),
          remotePort: req.socket.remotePort ?? 0,
        };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(echoed));
      });
    }),
  );
}

interface Reply {
  readonly status: number;
  readonly body: Buffer;
  readonly reusedSocket: boolean;
}

/** An HTTP request to the relay's public port, with the given Host. */
function request(
  relay: Relay,
  host: string,
  options: { method?: string; path?: string; body?: Buffer; agent?: http.Agent | false } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: relay.addresses.public.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { host, ...(options.body ? { 'content-length': String(options.body.length) } : {}) },
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function json(reply: Reply): Echoed {
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body.toString('utf8')) as Echoed;
}

let probeId = 1_000_000;

/**
 * Waits until the devices' tunnels hold no client (each one closed: ended both ways), then
 * checks that the relay's side holds none either. No waiting on the relay: a device-side
 * client is finished only once the relay has ended it (the relay's client has ended its side)
 * and the device's own `end` went out before; a control request sent now is answered only
 * after the relay has read every earlier frame on that tunnel, those `end`s included, which
 * finishes the relay's clients. Pass every device connected to the relay.
 */
async function expectNoClients(...devices: Device[]): Promise<void> {
  const tunnels = devices.map((device) => {
    if (!device.tunnel) throw new Error('a device is not online');
    return device.tunnel;
  });
  expect(relayTunnels.size).toBe(tunnels.length);
  for (const tunnel of tunnels) {
    await Promise.all([...tunnel.clients.values()].map((client) => firstValueFrom(client.closed$)));
    expect(tunnel.clients.size).toBe(0);
  }
  for (const tunnel of tunnels) {
    const id = probeId++;
    const answer = firstValueFrom(tunnel.control$.pipe(filter((message) => Array.isArray(message) && message[0] === -id)));
    tunnel.sendControl([id, 'paths-test-probe']);
    expect(await answer).toEqual([-id, expect.objectContaining({ code: 'E_UNKNOWN_COMMAND' })]);
    expect(tunnel.clients.size).toBe(0);
  }
  for (const relayTunnel of relayTunnels) expect([...relayTunnel.clients.keys()]).toEqual([]);
}

// The tests

describe('HTTPS by SNI, TLS passed through', () => {
  it('echoes 1 MiB to a local TLS server whose certificate the visitor verifies', async () => {
    const relay = await startRelay();
    const local = await tlsEchoServer();
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = await startDevice(relay, { token, forwards: [`https:app.localhost=127.0.0.1:${local}`] });

    const data = randomBytes(MiB);
    const visitor = tlsVisitor(relay);
    const peer = once(visitor, 'secureConnect').then(() => visitor.getPeerCertificate().fingerprint256);
    const back = await exchange(visitor, data, 'secureConnect');
    expect(visitor.authorized).toBe(true);
    // The certificate the visitor got is the local server's own: the relay has no key.
    expect(await peer).toBe(pems.fingerprint256);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    await once(visitor, 'close');
    await expectNoClients(device);
  });

  it('serves an HTTPS request from a local HTTPS server', async () => {
    const relay = await startRelay();
    const local = await serve(
      https.createServer({ key: pems.key, cert: pems.cert }, (req, res) => {
        res.end(`secure hello from ${req.headers.host ?? '?'} ${req.url ?? ''}`);
      }),
    );
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = await startDevice(relay, { token, forwards: [`https:app.localhost=127.0.0.1:${local}`] });

    const agent = new https.Agent({ ca: [pems.cert], keepAlive: false });
    defer(() => agent.destroy());
    const { status, body, authorized } = await new Promise<{ status: number; body: string; authorized: boolean }>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: relay.addresses.public.port,
            servername: 'app.localhost',
            path: '/greeting',
            headers: { host: 'app.localhost' },
            agent,
          },
          (res) => {
            const chunks: Buffer[] = [];
            const authorized = (res.socket as tls.TLSSocket).authorized;
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), authorized }));
            res.on('error', reject);
          },
        )
        .on('error', reject);
    });
    expect(status).toBe(200);
    expect(authorized).toBe(true);
    expect(body).toBe('secure hello from app.localhost /greeting');
    await expectNoClients(device);
  });

  it('answers a TLS visitor for a name no device serves with an unrecognized_name alert', async () => {
    const relay = await startRelay();
    const visitor = tlsVisitor(relay);
    const [error] = (await once(visitor, 'error')) as [Error & { code?: string }];
    // Before any ServerHello: no certificate (and no 502 page) on the relay's behalf.
    expect(error.code).toBe('ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
    expect(visitor.authorized).toBe(false);
  });
});

describe('HTTP by Host', () => {
  it('serves GETs and a 2 MiB POST, keep-alive off and on, a Host with a port', async () => {
    const relay = await startRelay();
    const local = await describingServer('local');
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = await startDevice(relay, { token, forwards: [`http:app.localhost=127.0.0.1:${local}`] });

    // Keep-alive off: one connection per request.
    const first = json(await request(relay, 'app.localhost', { path: '/one' }));
    expect(first).toMatchObject({ method: 'GET', url: '/one', host: 'app.localhost', length: 0 });
    const second = json(await request(relay, 'app.localhost', { path: '/two?x=1' }));
    expect(second).toMatchObject({ method: 'GET', url: '/two?x=1', host: 'app.localhost' });

    // A 2 MiB body, hashed by the local server.
    const body = randomBytes(2 * MiB);
    const posted = json(await request(relay, 'app.localhost', { method: 'POST', path: '/upload', body }));
    expect(posted).toMatchObject({ method: 'POST', url: '/upload', length: body.length, sha256: sha256(body) });

    // A Host with a port routes by the name alone; the local server sees the Host as sent.
    const withPort = json(await request(relay, 'app.localhost:8443', { path: '/port' }));
    expect(withPort).toMatchObject({ url: '/port', host: 'app.localhost:8443' });

    // Keep-alive on: two requests on one visitor connection, one local connection.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const a = await request(relay, 'app.localhost', { path: '/ka/1', agent });
    const b = await request(relay, 'app.localhost', { path: '/ka/2', agent });
    expect(a.reusedSocket).toBe(false);
    expect(b.reusedSocket).toBe(true);
    expect(json(a).url).toBe('/ka/1');
    expect(json(b).url).toBe('/ka/2');
    expect(json(b).remotePort).toBe(json(a).remotePort);
    agent.destroy();

    await expectNoClients(device);
  });

  it('routes a wildcard name, and answers 502 for a name no device serves', async () => {
    const relay = await startRelay();
    const local = await describingServer('wild');
    const token = await issueToken(SECRET, { domains: ['*.apps.localhost'] });
    const device = await startDevice(relay, { token, forwards: [`http:*.apps.localhost=127.0.0.1:${local}`] });

    const wild = json(await request(relay, 'x.apps.localhost', { path: '/w' }));
    expect(wild).toMatchObject({ id: 'wild', url: '/w', host: 'x.apps.localhost' });
    const deeper = json(await request(relay, 'a.b.apps.localhost'));
    expect(deeper).toMatchObject({ id: 'wild', host: 'a.b.apps.localhost' });

    const missing = await request(relay, 'nobody.localhost');
    expect(missing.status).toBe(502);
    expect(missing.body.toString()).toContain('No device serves nobody.localhost on this relay.');
    // The wildcard does not cover its own apex.
    expect((await request(relay, 'apps.localhost')).status).toBe(502);

    await expectNoClients(device);
    // Once its device has left, a name it served is "not connected now", not unknown.
    await device.close();
    await until(() => relay.deviceCount === 0, 'the relay to see the device leave');
    const gone = await request(relay, 'x.apps.localhost');
    expect(gone.status).toBe(502);
    expect(gone.body.toString()).toContain('x.apps.localhost is served by a device that is not connected now.');
    expect((await request(relay, 'nobody.localhost')).body.toString()).toContain('No device serves nobody.localhost');

  });
});

describe('TCP and UDP by port', () => {
  it('echoes 4 MiB through a claimed TCP port', async () => {
    const port = await freePort('tcp');
    const relay = await startRelay({ tcpPorts: String(port) });
    const local = await tcpEchoServer();
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${local}`] });
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);

    const data = randomBytes(4 * MiB);
    const visitor = net.connect({ host: '127.0.0.1', port });
    defer(() => void visitor.destroy());
    const back = await exchange(visitor, data, 'connect');
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    await once(visitor, 'close');
    await expectNoClients(device);
  });

  it('serves a TCP service that speaks first (no bytes from the visitor to route by)', async () => {
    const port = await freePort('tcp');
    const relay = await startRelay({ tcpPorts: String(port) });
    const local = await serve(net.createServer((socket) => socket.end('220 banner from the local service\r\n')));
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, { token, forwards: [`tcp:${port}=127.0.0.1:${local}`] });
    await until(() => relay.ports.tcp.includes(port), `the relay listening on TCP ${port}`);

    const visitor = net.connect({ host: '127.0.0.1', port });
    defer(() => void visitor.destroy());
    const chunks: Buffer[] = [];
    visitor.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(visitor, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('220 banner from the local service\r\n');
    await once(visitor, 'close');
    await expectNoClients(device);
  });

  it('relays datagrams through a claimed UDP port, per visitor, boundaries kept', async () => {
    const port = await freePort('udp');
    // Idle UDP visitors are forgotten after a second: that is what ends their clients.
    const relay = await startRelay({ udpPorts: String(port), udpIdleTimeout: 1_000 });
    // The local service answers each datagram with one datagram: a prefix and the payload.
    const local = createSocket('udp4');
    const sources = new Map<string, Set<number>>();
    local.on('message', (datagram, from) => {
      const who = datagram.subarray(0, 1).toString();
      const seen = sources.get(who) ?? new Set<number>();
      seen.add(from.port);
      sources.set(who, seen);
      local.send(Buffer.concat([Buffer.from('echo:'), datagram]), from.port, from.address);
    });
    await new Promise<void>((resolve) => local.bind(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => local.close(resolve)));
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, { token, forwards: [`udp:${port}=127.0.0.1:${local.address().port}`] });
    await until(() => relay.ports.udp.includes(port), `the relay bound to UDP ${port}`);
    expect(relay.ports.tcp).toEqual([]);

    const sizes = [1, 17, 1000, 1400, 9000, 30_000, 2];
    const visit = async (who: 'A' | 'B'): Promise<{ sent: Buffer[]; got: Buffer[] }> => {
      const socket: UdpSocket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      defer(() => new Promise<void>((resolve) => socket.close(resolve)));
      const sent = sizes.map((size) => Buffer.concat([Buffer.from(who), randomBytes(size - 1)]));
      const got: Buffer[] = [];
      const all = new Promise<void>((resolve) => {
        socket.on('message', (datagram) => {
          got.push(datagram);
          if (got.length === sent.length) resolve();
        });
      });
      // A burst: nothing waits for a reply before the next datagram goes.
      for (const datagram of sent) socket.send(datagram, port, '127.0.0.1');
      await all;
      return { sent, got };
    };
    const [a, b] = await Promise.all([visit('A'), visit('B')]);
    for (const { sent, got } of [a, b]) {
      expect(got.map((d) => d.length)).toEqual(sent.map((d) => d.length + 5));
      expect(got).toEqual(sent.map((d) => Buffer.concat([Buffer.from('echo:'), d])));
    }
    // Each visitor is its own client on the device: its own socket toward the local service.
    expect(sources.get('A')?.size).toBe(1);
    expect(sources.get('B')?.size).toBe(1);
    expect([...(sources.get('A') ?? [])][0]).not.toBe([...(sources.get('B') ?? [])][0]);
    expect(device.tunnel?.clients.size).toBe(2);

    // Once idle, the relay ends both clients, and the device lets go of its sockets.
    await expectNoClients(device);
  });

  it('serves a UDP visitor again after the device ended its idle flow first', async () => {
    const port = await freePort('udp');
    // The relay would keep the flow for a minute; the device gives up after 100 ms.
    const relay = await startRelay({ udpPorts: String(port), udpIdleTimeout: 60_000 });
    const local = createSocket('udp4');
    local.on('message', (datagram, from) => local.send(Buffer.concat([Buffer.from('re:'), datagram]), from.port, from.address));
    await new Promise<void>((resolve) => local.bind(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => local.close(resolve)));
    const token = await issueToken(SECRET, { ports: [port] });
    const device = await startDevice(relay, {
      token,
      forwards: [`udp:${port}=127.0.0.1:${local.address().port}`],
      udpIdleTimeout: 100,
    });
    await until(() => relay.ports.udp.includes(port), `the relay bound to UDP ${port}`);
    const visitor: UdpSocket = createSocket('udp4');
    await new Promise<void>((resolve) => visitor.bind(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => visitor.close(resolve)));
    const ask = (text: string): Promise<string> =>
      new Promise((resolve) => {
        visitor.once('message', (reply) => resolve(reply.toString()));
        visitor.send(text, port, '127.0.0.1');
      });
    expect(await ask('one')).toBe('re:one');
    await expectNoClients(device);
    await until(() => relay.clientCount === 0, 'the relay ending the flow the device ended');
    expect(await ask('two')).toBe('re:two');
  });
});

describe('many visitors', () => {
  it('serves 50 TLS echoes of 256 KiB and 50 HTTP requests at once', async () => {
    const relay = await startRelay();
    const tlsLocal = await tlsEchoServer();
    const httpLocal = await describingServer('many');
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const device = await startDevice(relay, {
      token,
      forwards: [`https:app.localhost=127.0.0.1:${tlsLocal}`, `http:app.localhost=127.0.0.1:${httpLocal}`],
    });

    const N = 50;
    const echoes = Array.from({ length: N }, async () => {
      const data = randomBytes(256 * KiB);
      const visitor = tlsVisitor(relay);
      const closed = once(visitor, 'close');
      const back = await exchange(visitor, data, 'secureConnect');
      await closed;
      return { authorized: visitor.authorized, same: back.length === data.length && sha256(back) === sha256(data) };
    });
    const requests = Array.from({ length: N }, async (_, i) => {
      const body = randomBytes(1 + i * 97);
      const reply = json(await request(relay, 'app.localhost', { method: 'POST', path: `/r/${i}`, body }));
      return reply.url === `/r/${i}` && reply.length === body.length && reply.sha256 === sha256(body);
    });
    const [tlsResults, httpResults] = await Promise.all([Promise.all(echoes), Promise.all(requests)]);
    expect(tlsResults).toEqual(Array.from({ length: N }, () => ({ authorized: true, same: true })));
    expect(httpResults).toEqual(Array.from({ length: N }, () => true));

    await expectNoClients(device);
  });

  it('round-robins between two devices of one subject', async () => {
    const relay = await startRelay();
    const one = await describingServer('one');
    const two = await describingServer('two');
    const tokenOne = await issueToken(SECRET, { domains: ['rr.localhost'], sub: 'replicas' });
    const tokenTwo = await issueToken(SECRET, { domains: ['rr.localhost'], sub: 'replicas' });
    const deviceOne = await startDevice(relay, { token: tokenOne, forwards: [`http:rr.localhost=127.0.0.1:${one}`] });
    const deviceTwo = await startDevice(relay, { token: tokenTwo, forwards: [`http:rr.localhost=127.0.0.1:${two}`] });
    expect(relay.deviceCount).toBe(2);

    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(json(await request(relay, 'rr.localhost', { path: `/${i}` })).id);
    expect(new Set(ids)).toEqual(new Set(['one', 'two']));
    for (let i = 1; i < ids.length; i++) expect(ids[i]).not.toBe(ids[i - 1]);

    await expectNoClients(deviceOne, deviceTwo);
  });
});
