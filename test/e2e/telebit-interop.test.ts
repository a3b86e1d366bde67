/**
 * Interop with telebit-style peers (proxy-packer + ws, behaving as telebit-notes.md says the
 * real relay and device do): a telebit-style device against the mproxy relay, and the mproxy
 * device against a telebit-style relay.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { firstValueFrom } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { defer } from '../support/index.js';
import { CLOSE_NO_TOKEN, createDevice, createRelay, issueToken, type Client, type Device, type Relay, type RelayOptions } from '../../src/index.js';
import { freePort, selfSignedCertificate } from '../support/index.js';
import { TelebitDevice, TelebitRelay, UpgradeRefused, type PackerAddr, type RelayPeer, type WireMode } from './telebit-peers.js';

const SECRET = 'telebit-interop-secret-of-32-bytes';
const HELLO = [1, 'hello', [1], ['add_token', 'delete_token', 'auth', 'authn', 'authz']];

let pems: { key: string; cert: string };
beforeAll(async () => {
  pems = await selfSignedCertificate('secure.localhost');
});

function portOf(server: { address(): AddressInfo | string | null }): number {
  return (server.address() as AddressInfo).port;
}

async function listen<S extends HttpServer>(server: S): Promise<S> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return server;
}

/** A local HTTP service that says who it served. */
function localHttp(): Promise<HttpServer> {
  return listen(createHttpServer((req, res) => res.end(`hello from ${req.headers.host} ${req.url}`)));
}

/** A local HTTPS service (the device's own certificate: the relay passes TLS through). */
function localHttps(): Promise<HttpServer> {
  return listen(createHttpsServer({ key: pems.key, cert: pems.cert }, (req, res) => res.end(`secure hello ${req.url}`)));
}

async function startRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => relay.close());
  return relay;
}

/** An HTTP visitor by Host; resolves once its socket has closed. */
function httpVisit(port: number, host: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** An HTTPS visitor by SNI that verifies the local service's certificate; resolves on close. */
function httpsVisit(port: number, name: string): Promise<{ reply: string; authorized: boolean; subject: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: name, ca: pems.cert }, () =>
      socket.write(`GET /tls HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`),
    );
    const chunks: Buffer[] = [];
    let authorized = false;
    let subject = '';
    socket.on('secureConnect', () => {
      authorized = socket.authorized;
      subject = String(socket.getPeerCertificate().subject.CN);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve({ reply: Buffer.concat(chunks).toString(), authorized, subject }));
  });
}

async function telebitDevice(options: Parameters<typeof TelebitDevice.connect>[0]): Promise<TelebitDevice> {
  const device = await TelebitDevice.connect(options);
  defer(() => device.close());
  return device;
}

function basic(userAndPassword: string): string {
  return `Basic ${Buffer.from(userAndPassword).toString('base64')}`;
}

describe('telebit-style device → mproxy relay', () => {
  async function setup(mode: WireMode = 'split', relayOptions: Partial<RelayOptions> = {}) {
    const [web, secure, relay] = await Promise.all([localHttp(), localHttps(), startRelay(relayOptions)]);
    const token = await issueToken(SECRET, { domains: ['app.localhost', 'secure.localhost'] });
    const route = (msg: { service?: string }) =>
      msg.service === 'https' ? { host: '127.0.0.1', port: portOf(secure) } : { host: '127.0.0.1', port: portOf(web) };
    return { web, secure, relay, token, route, mode };
  }

  it.each<WireMode>(['split', 'batch'])(
    'connects bare, adds its token before answering hello, serves HTTP by Host and HTTPS by SNI (%s frames)',
    async (mode) => {
      const { relay, token, route } = await setup(mode);
      const device = await telebitDevice({ url: relay.tunnelUrl, token, mode, route });
      const { wire } = device;

      expect(await wire.waitForRequest('hello')).toEqual(HELLO);
      const answer = await device.tokenAnswer;
      expect(answer).toHaveLength(2);
      expect(answer[1]).toBeNull();
      // The device sent add_token before its answer to hello.
      const sent = wire.sentControl as unknown[][];
      const addAt = sent.findIndex((m) => m[1] === 'add_token');
      const ackAt = sent.findIndex((m) => m[0] === -1 && m[1] === null);
      expect(addAt).toBeGreaterThanOrEqual(0);
      expect(ackAt).toBeGreaterThan(addAt);

      // The relay pushes grant; the device never answers it, and that does not hurt.
      const grant = await wire.waitForRequest('grant');
      expect(grant[2]).toEqual(expect.arrayContaining([['http', 'app.localhost'], ['https', 'secure.localhost']]));

      const publicPort = relay.addresses.public.port;
      const reply = await httpVisit(publicPort, 'app.localhost', '/some/path?q=1');
      expect(reply).toMatch(/^HTTP\/1.1 200/);
      expect(reply).toContain('hello from app.localhost /some/path?q=1');

      const http = wire.events.find((e) => e.type === 'connection' && e.msg.service === 'http');
      expect(http).toBeDefined();
      if (http?.type !== 'connection') throw new Error('unreachable');
      expect(http.msg).toMatchObject({ family: 'IPv4', address: '127.0.0.1', service: 'http', name: 'app.localhost' });
      expect(Number(http.msg.serviceport)).toBe(publicPort);
      expect(Number(http.msg.port)).toBeGreaterThan(0);
      // The relay told the device the visitor is gone (its client is finished by then), and the
      // local socket closed.
      await wire.waitForFrame('end', http.id);
      expect(relay.clientCount).toBe(0);
      await wire.waitForFrame('local-closed', http.id);

      const tls = await httpsVisit(publicPort, 'secure.localhost');
      expect(tls.authorized).toBe(true);
      expect(tls.subject).toBe('secure.localhost');
      expect(tls.reply).toMatch(/^HTTP\/1.1 200/);
      expect(tls.reply).toContain('secure hello /tls');
      const https = wire.events.find((e) => e.type === 'connection' && e.msg.service === 'https');
      if (https?.type !== 'connection') throw new Error('no https connection frame');
      expect(https.msg).toMatchObject({ family: 'IPv4', address: '127.0.0.1', name: 'secure.localhost' });
      await wire.waitForFrame('end', https.id);
      expect(relay.clientCount).toBe(0);
      await wire.waitForFrame('local-closed', https.id);

      // Still connected, nothing left open on the device, no stray errors from the relay.
      expect(device.wire.isOpen).toBe(true);
      expect(relay.deviceCount).toBe(1);
      expect(device.sockets.size).toBe(0);
      expect(wire.events.filter((e) => e.type === 'error')).toEqual([]);
      // Only the TLS visitor's close_notify alert (a TLS record: 0x15, or 0x17 as TLS 1.3 wraps
      // it) may come after the local TLS socket has closed: the device has no socket for it.
      for (const late of wire.events.filter((e) => e.type === 'unknown-data')) {
        if (late.type !== 'unknown-data') continue;
        expect(late.id).toBe(https.id);
        expect([0x15, 0x17]).toContain(late.msg.data?.[0]);
      }
    },
  );

  it('serves several visitors at once through one device', async () => {
    const { relay, token, route } = await setup('split');
    const device = await telebitDevice({ url: relay.tunnelUrl, token, route });
    await device.tokenAnswer;
    const port = relay.addresses.public.port;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => httpVisit(port, 'app.localhost', `/v${i}`)));
    replies.forEach((reply, i) => expect(reply).toContain(`hello from app.localhost /v${i}`));
    const connections = device.wire.events.filter((e) => e.type === 'connection');
    expect(connections).toHaveLength(8);
    await Promise.all(connections.map((c) => device.wire.waitForFrame('end', (c as { id: string }).id)));
    expect(relay.clientCount).toBe(0);
    await Promise.all(connections.map((c) => device.wire.waitForFrame('local-closed', (c as { id: string }).id)));
    expect(device.sockets.size).toBe(0);
  });

  it('answers a bad add_token with [-n, {message, code}] and keeps the socket; a good one then works', async () => {
    const { relay, token, route } = await setup();
    const device = await telebitDevice({ url: relay.tunnelUrl, route });
    await device.wire.waitForRequest('hello');

    const garbage = await device.wire.request('add_token', 'not-a-jwt');
    const forged = await device.wire.request('add_token', await issueToken('another-secret', { domains: ['app.localhost'] }));
    for (const [answer, id] of [
      [garbage, 1],
      [forged, 2],
    ] as const) {
      expect(answer[0]).toBe(-id);
      const error = answer[1] as { message?: unknown; code?: unknown };
      expect(typeof error.message).toBe('string');
      expect(error.message).not.toBe('');
      expect(error.code).toMatch(/^E_/);
    }
    expect(device.wire.isOpen).toBe(true);
    // Nothing is served under a refused token.
    expect(await httpVisit(relay.addresses.public.port, 'app.localhost')).toMatch(/^HTTP\/1.1 502/);

    expect(await device.wire.request('add_token', token)).toEqual([-3, null]);
    const reply = await httpVisit(relay.addresses.public.port, 'app.localhost', '/after');
    expect(reply).toContain('hello from app.localhost /after');
  });

  it(`closes a device that never adds a token after tokenGrace, with ${CLOSE_NO_TOKEN}`, async () => {
    const { relay, route } = await setup('split', { tokenGrace: 300 });
    const started = Date.now();
    const bare = await telebitDevice({ url: relay.tunnelUrl, route });
    // One that only adds a bad token is no better.
    const refused = await telebitDevice({ url: relay.tunnelUrl, route, token: 'not-a-jwt' });
    expect((await refused.tokenAnswer)[1]).toMatchObject({ code: expect.stringMatching(/^E_/) });
    const [a, b] = await Promise.all([bare.closed, refused.closed]);
    expect(a.code).toBe(CLOSE_NO_TOKEN);
    expect(b.code).toBe(CLOSE_NO_TOKEN);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("closes the visitor when the device answers its connection with telebit's empty error frame", async () => {
    const { relay, token } = await setup();
    const device = await telebitDevice({ url: relay.tunnelUrl, token, route: () => undefined });
    await device.tokenAnswer;
    // A failed client resets its visitor: a clean end could pass a cut reply off as whole.
    await expect(httpVisit(relay.addresses.public.port, 'app.localhost', '/nowhere')).rejects.toMatchObject({ code: 'ECONNRESET' });
    const connection = device.wire.events.find((e) => e.type === 'connection');
    expect(connection).toBeDefined();
    // The relay forgot the client: after the request it had already sent along with the
    // connection, nothing more comes for it (no end, no error), and the tunnel lives on.
    const after = device.wire.events.filter((e) => e.type !== 'control' && e.type !== 'connection');
    expect(after.map((e) => e.type)).toEqual(['data', 'unknown-data']);
    expect(relay.clientCount).toBe(0);
    expect(device.wire.isOpen).toBe(true);
    expect(relay.deviceCount).toBe(1);
    expect(relay.clientCount).toBe(0);
  });

  it('ends the visitor when the device ends a client before sending it anything', async () => {
    const { relay, token } = await setup();
    // A local service that hangs up at once: the device's first frame for the client is `end`.
    const rude = createTcpServer((socket) => socket.resume().end());
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => rude.close(() => resolve())));
    const device = await telebitDevice({ url: relay.tunnelUrl, token, route: () => ({ host: '127.0.0.1', port: portOf(rude) }) });
    await device.tokenAnswer;
    expect(await httpVisit(relay.addresses.public.port, 'app.localhost', '/hangup')).toBe('');
    const connection = device.wire.events.find((e) => e.type === 'connection');
    if (connection?.type !== 'connection') throw new Error('no connection frame');
    await device.wire.waitForFrame('end', connection.id);
    expect(relay.clientCount).toBe(0);
    expect(device.wire.isOpen).toBe(true);
  });

  it('answers data for an unknown id with error {message: "no matching connection", code: "E_NO_CONN"}', async () => {
    const { relay, token, route } = await setup();
    const device = await telebitDevice({ url: relay.tunnelUrl, token, route });
    await device.tokenAnswer;
    const stray: PackerAddr = { family: 'IPv4', address: '10.9.8.7', port: 4444, service: 'http', serviceport: 80, name: 'app.localhost' };
    device.sendData(stray, 'GET / HTTP/1.1\r\n\r\n');
    const error = await device.wire.waitForFrame('error', 'IPv4,10.9.8.7,4444');
    expect(error.msg).toMatchObject({ message: 'no matching connection', code: 'E_NO_CONN' });
    // The tunnel lives on.
    expect(device.wire.isOpen).toBe(true);
    expect(await httpVisit(relay.addresses.public.port, 'app.localhost')).toMatch(/^HTTP\/1.1 200/);
  });

  it('refuses a bad ?access_token with HTTP 401 before the upgrade', async () => {
    const { relay } = await setup();
    const attempt = TelebitDevice.connect({ url: `${relay.tunnelUrl}/?access_token=not-a-jwt` });
    const refused = await attempt.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).statusCode).toBe(401);
    expect(JSON.parse((refused as UpgradeRefused).body)).toMatchObject({ message: expect.any(String), code: expect.stringMatching(/^E_/) });
    expect(relay.deviceCount).toBe(0);
  });

  it.each([':', 'x:'])('takes the token as Authorization: Basic base64(%s + jwt), grant before hello', async (prefix) => {
    const { relay, token, route } = await setup();
    const device = await telebitDevice({ url: relay.tunnelUrl, headers: { authorization: basic(prefix + token) }, route });
    await device.wire.waitForRequest('hello');
    const requests = device.wire.controls.filter((b): b is unknown[] => Array.isArray(b) && (b[0] as number) > 0);
    expect(requests.map((r) => r[1]).slice(0, 2)).toEqual(['grant', 'hello']);
    expect(requests[1]?.slice(2)).toEqual(HELLO.slice(2));
    const reply = await httpVisit(relay.addresses.public.port, 'app.localhost', '/basic');
    expect(reply).toContain('hello from app.localhost /basic');
  });
});

describe('mproxy device → telebit-style relay', () => {
  const visitor = (address: string, port: number, name: string): PackerAddr => ({
    family: 'IPv4',
    address,
    port,
    service: 'http',
    serviceport: 80,
    name,
  });
  const idOf = (addr: PackerAddr): string => `${addr.family},${addr.address},${addr.port}`;
  const get = (name: string, path = '/'): string => `GET ${path} HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`;

  async function startTelebitRelay(hello: 'list' | 'byte' = 'list', mode: WireMode = 'split'): Promise<TelebitRelay> {
    const relay = await TelebitRelay.start({ secret: SECRET, hello, mode });
    defer(() => relay.close());
    return relay;
  }

  async function connectDevice(
    relay: TelebitRelay,
    forwards: string[],
    extra: Partial<Parameters<typeof createDevice>[0]> = {},
  ): Promise<{ device: Device; peer: RelayPeer; clients: Client[] }> {
    const token = await issueToken(SECRET, { domains: ['app.localhost', 'big.localhost', 'dead.localhost'] });
    const device = createDevice({ relay: relay.url, token, forwards, reconnect: false, ...extra });
    defer(() => device.close());
    const peer = await relay.nextDevice();
    await device.online();
    const clients: Client[] = [];
    device.tunnel?.clients$.subscribe((client) => clients.push(client));
    return { device, peer, clients };
  }

  /** Every client the device served is finished and forgotten. */
  async function expectNoLeaks(device: Device, clients: Client[]): Promise<void> {
    await Promise.all(clients.map((client) => firstValueFrom(client.closed$)));
    expect(device.tunnel?.clients.size).toBe(0);
  }

  it.each([
    { hello: 'list', mode: 'split' },
    { hello: 'byte', mode: 'batch' },
  ] as const)('answers a $hello hello [-1, null] after an unanswered grant and serves a visitor ($mode frames)', async ({ hello, mode }) => {
    const web = await localHttp();
    const relay = await startTelebitRelay(hello, mode);
    const { device, peer, clients } = await connectDevice(relay, [`http:app.localhost=127.0.0.1:${portOf(web)}`]);

    // The token came in the query and was checked by the relay.
    expect(peer.domains).toContain('app.localhost');
    expect(await peer.helloAnswer).toEqual([-1, null]);

    const addr = visitor('203.0.113.7', 4321, 'app.localhost');
    const id = idOf(addr);
    peer.openClient(addr);
    peer.write(addr, get('app.localhost', '/through/telebit'));
    const end = await peer.wire.waitForFrame('end', id);
    expect(end.msg).toMatchObject({ family: 'IPv4', address: '203.0.113.7' });
    expect(String(end.msg.port)).toBe('4321');
    const reply = peer.wire.dataOf(id).toString();
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain('hello from app.localhost /through/telebit');
    peer.end(addr);

    // The device never answered the grant (id 2), and answers requests it does not know.
    const ping = await peer.barrier();
    expect(ping[1]).toMatchObject({ code: 'E_UNKNOWN_COMMAND' });
    expect(peer.wire.controls.filter((b) => Array.isArray(b) && b[0] === -2)).toEqual([]);

    await expectNoLeaks(device, clients);
    expect(clients).toHaveLength(1);
    expect(clients[0]?.meta).toMatchObject({ address: '203.0.113.7', port: 4321, service: 'http', name: 'app.localhost' });
    expect(device.state).toBe('online');
  });

  it('sends add_token before answering hello when the token goes over the control channel', async () => {
    const web = await localHttp();
    const relay = await startTelebitRelay();
    const { device, peer } = await connectDevice(relay, [`http:app.localhost=127.0.0.1:${portOf(web)}`], { tokenIn: 'control' });
    expect(peer.domains).toEqual([]);
    expect(await peer.helloAnswer).toEqual([-1, null]);
    const controls = peer.wire.controls as unknown[][];
    const addAt = controls.findIndex((b) => b[1] === 'add_token');
    const ackAt = controls.findIndex((b) => b[0] === -1);
    expect(addAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(addAt);
    expect(device.state).toBe('online');
  });

  it('answers an HTTP client whose local service refuses with a 502 page and an end frame', async () => {
    const relay = await startTelebitRelay();
    const deadPort = await freePort();
    const { device, peer, clients } = await connectDevice(relay, [`http:dead.localhost=127.0.0.1:${deadPort}`]);
    await peer.helloAnswer;
    const addr = visitor('203.0.113.8', 5555, 'dead.localhost');
    peer.openClient(addr);
    peer.write(addr, get('dead.localhost'));
    await peer.wire.waitForFrame('end', idOf(addr));
    const page = peer.wire.dataOf(idOf(addr)).toString();
    expect(page).toMatch(/^HTTP\/1.1 502 Bad Gateway\r\n/);
    expect(page).toContain('dead.localhost');
    // The page names the name, never the local address behind it.
    expect(page).not.toContain(String(deadPort));
    // The relay closes its visitor after the page, which ends the client on both sides.
    peer.end(addr);
    await expectNoLeaks(device, clients);
    expect(device.state).toBe('online');
  });

  it('stops sending for a paused client until resume, while the local service keeps writing', async () => {
    const SIZE = 8 * 1024 * 1024;
    const big = Buffer.alloc(SIZE, 'x');
    let served = 0;
    const web = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-length': SIZE });
        res.end(big, () => served++);
      }),
    );
    const relay = await startTelebitRelay();
    const { device, peer, clients } = await connectDevice(relay, [`http:big.localhost=127.0.0.1:${portOf(web)}`]);
    await peer.helloAnswer;
    const addr = visitor('203.0.113.9', 6000, 'big.localhost');
    const id = idOf(addr);
    peer.openClient(addr);
    peer.write(addr, get('big.localhost'));
    await peer.wire.waitForFrame('data', id);
    peer.pause(addr);
    // Everything sent before the device handled the pause arrives before this answer.
    await peer.barrier();
    const atPause = peer.wire.dataOf(id).length;
    expect(atPause).toBeLessThan(SIZE);

    // A window in which the local service has more to give: nothing may come for this client.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await peer.barrier();
    expect(peer.wire.dataOf(id).length).toBe(atPause);
    expect(peer.wire.events.some((e) => e.type === 'end' && e.id === id)).toBe(false);

    peer.resume(addr);
    await peer.wire.waitForFrame('end', id);
    const reply = peer.wire.dataOf(id);
    const headEnd = reply.indexOf('\r\n\r\n');
    expect(reply.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
    expect(reply.length - headEnd - 4).toBe(SIZE);
    expect(served).toBe(1);
    peer.end(addr);
    await expectNoLeaks(device, clients);
  }, 20_000);

  it("tolerates telebit's empty error objects: [0, {}] and a stray [-n, {}]", async () => {
    const web = await localHttp();
    const relay = await startTelebitRelay();
    const { device, peer, clients } = await connectDevice(relay, [`http:app.localhost=127.0.0.1:${portOf(web)}`]);
    await peer.helloAnswer;
    peer.wire.sendControl([0, {}]);
    peer.wire.sendControl([-77, {}]);
    await peer.barrier();
    expect(device.state).toBe('online');
    const addr = visitor('203.0.113.10', 7000, 'app.localhost');
    peer.openClient(addr);
    peer.write(addr, get('app.localhost', '/still'));
    await peer.wire.waitForFrame('end', idOf(addr));
    expect(peer.wire.dataOf(idOf(addr)).toString()).toContain('hello from app.localhost /still');
    peer.end(addr);
    await expectNoLeaks(device, clients);
  });

  it("reads a refused add_token's [-n, {}] as an error: the hello is failed, the device stops", async () => {
    const relay = await startTelebitRelay();
    const good = await issueToken(SECRET, { domains: ['app.localhost'] });
    const forged = await issueToken('another-secret', { domains: ['evil.localhost'] });
    const device = createDevice({ relay: relay.url, tokens: [good, forged], forwards: ['http:app.localhost=127.0.0.1:1'], reconnect: false });
    defer(() => device.close());
    const peer = await relay.nextDevice();
    const closed = await firstValueFrom(device.closed$);
    expect(closed.error).toBeInstanceOf(Error);
    const add = (peer.wire.controls as unknown[][]).find((b) => b[1] === 'add_token');
    expect(add?.[2]).toBe(forged);
    expect(peer.wire.sentControl).toContainEqual([-(add?.[0] as number), {}]);
    const answer = await peer.helloAnswer;
    expect(answer[0]).toBe(-1);
    expect(answer[1]).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    await peer.closed;
  });
});
