/**
 * What the relay refuses, and that a refusal touches nobody else: every test runs one healthy
 * device (`ok.localhost`) alongside and checks, after the refusal, that it still serves.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { firstValueFrom, NEVER, toArray, takeWhile } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  connectSocket,
  ControlError,
  createControlChannel,
  createDevice,
  createRelay,
  createTunnel,
  fromWebSocket,
  issueToken,
  MproxyError,
  type ControlChannel,
  type Device,
  type Relay,
  type RelayOptions,
  type Tunnel,
} from '../../src/index.js';
import { answerHello } from '../../src/control/hello.js';
import { defer, captureClientHello, freePort, httpGet, listen, memoryLogger, tryUpgrade, until, type LogEntry } from '../support/index.js';

const SECRET = 'refusals-secret-of-32-bytes-or-more';
// Helpers

/** A local HTTP service that says which name it was asked for. */
async function helloServer(): Promise<number> {
  return listen(createHttpServer((req, res) => res.end(`hello from ${req.headers.host ?? '?'}`)), defer);
}

/** A TCP echo service. */
async function echoServer(): Promise<number> {
  const server = createTcpServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  return listen(server, defer);
}

/** Connects, writes `parts` one at a time (each flushed before the next), and collects the answer. */
function visit(port: number, parts: readonly Buffer[]): Promise<{ received: Buffer; elapsed: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), elapsed: Date.now() - started }));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    socket.once('connect', () => void writeParts(socket, parts));
    defer(() => void socket.destroy());
  });
}

/** Writes each part once the previous one was handed to the kernel and an event-loop turn passed. */
async function writeParts(socket: Socket, parts: readonly Buffer[]): Promise<void> {
  for (const part of parts) {
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => socket.write(part, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A device built from the framework's parts, so that a test can speak control commands itself. */
interface RawDevice {
  readonly ws: WebSocket;
  readonly tunnel: Tunnel;
  readonly channel: ControlChannel;
  /** Resolves once the relay's hello is answered. */
  readonly online: Promise<void>;
  request(command: string, ...args: unknown[]): Promise<unknown>;
}

function rawDevice(url: string, token: string, localPort: number): RawDevice {
  const target = new URL(url);
  target.searchParams.set('access_token', token);
  const ws = new WebSocket(target, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const tunnel = createTunnel(fromWebSocket(ws), { unknownData: 'open' });
  const channel = createControlChannel(tunnel);
  channel.handle('grant', () => NEVER);
  const online = firstValueFrom(answerHello(channel)).then(() => undefined);
  tunnel.clients$.subscribe((client) => {
    const socket = connect(localPort, '127.0.0.1');
    connectSocket(client, socket);
  });
  defer(() => {
    tunnel.destroy();
    ws.terminate();
  });
  return { ws, tunnel, channel, online, request: (command, ...args) => firstValueFrom(channel.request(command, ...args)) };
}

interface Setup {
  readonly relay: Relay;
  readonly log: ReturnType<typeof memoryLogger>;
  readonly localPort: number;
  /** Fails unless the healthy device still serves its name. */
  healthy(): Promise<void>;
  device(token: string, forwards: string[], extra?: Partial<Parameters<typeof createDevice>[0]>): Device;
}

/** A relay with one healthy device serving `ok.localhost` over HTTP. */
async function setup(options: Partial<RelayOptions> = {}): Promise<Setup> {
  const log = memoryLogger();
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, logger: log, ...options });
  defer(() => relay.close());
  const localPort = await helloServer();
  const device = (token: string, forwards: string[], extra = {}): Device => {
    const d = createDevice({ relay: relay.tunnelUrl, token, forwards, reconnect: false, ...extra });
    defer(() => d.close());
    return d;
  };
  const okToken = await issueToken(SECRET, { domains: ['ok.localhost'], sub: 'healthy' });
  await device(okToken, [`http:ok.localhost=127.0.0.1:${localPort}`]).online();
  const healthy = async (): Promise<void> => {
    const reply = await httpGet(relay.addresses.public.port, 'ok.localhost');
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain('hello from ok.localhost');
  };
  await healthy();
  return { relay, log, localPort, healthy, device };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function codesLogged(log: { entries: LogEntry[] }): unknown[] {
  return log.entries.map((entry) => entry.context['code']).filter((code) => code !== undefined);
}

// Tests

describe('refusals: tokens on connect', () => {
  it('refuses a token signed with the wrong secret with 401 {message, code}, and the device stops for good', async () => {
    const { relay, healthy } = await setup();
    const forged = await issueToken('not-the-secret', { domains: ['evil.localhost'] });
    const answer = await tryUpgrade(relay.tunnelUrl, forged);
    expect(answer).not.toBe('open');
    expect(answer).toMatchObject({ status: 401, body: { code: 'E_TOKEN_SIGNATURE' } });
    expect(typeof (answer as { body: { message: unknown } }).body.message).toBe('string');

    // The mproxy device: the relay's code on closed$, and no retry (it would retry within 10 ms).
    const device = createDevice({
      relay: relay.tunnelUrl,
      token: forged,
      forwards: ['http:evil.localhost=127.0.0.1:1'],
      reconnect: { initialDelay: 10, maxDelay: 10 },
    });
    defer(() => device.close());
    const states = firstValueFrom(device.state$.pipe(takeWhile((s) => s !== 'closed', true), toArray()));
    const closed = await firstValueFrom(device.closed$);
    expect(closed.error).toBeInstanceOf(MproxyError);
    expect((closed.error as MproxyError).code).toBe('E_TOKEN_SIGNATURE');
    await expect(device.online()).rejects.toMatchObject({ code: 'E_TOKEN_SIGNATURE', refused: true });
    expect(await states).toEqual(['connecting', 'closed']);
    expect(relay.deviceCount).toBe(1);
    await healthy();
  });

  it('refuses a forged alg:none token with 401 E_TOKEN_SIGNATURE', async () => {
    const { relay, healthy } = await setup();
    const none = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ domains: ['ok.localhost'], sub: 'healthy' })}.`;
    expect(await tryUpgrade(relay.tunnelUrl, none)).toMatchObject({ status: 401, body: { code: 'E_TOKEN_SIGNATURE' } });
    // The same with a signature part that is not empty: still not HS256.
    const noneSigned = `${none}${Buffer.from('x').toString('base64url')}`;
    expect(await tryUpgrade(relay.tunnelUrl, noneSigned)).toMatchObject({ status: 401, body: { code: 'E_TOKEN_SIGNATURE' } });
    await healthy();
  });

  it('refuses an expired token with 401 E_TOKEN_EXPIRED', async () => {
    const { relay, healthy } = await setup();
    const expired = await issueToken(SECRET, { domains: ['late.localhost'] }, { expiresIn: 1, now: new Date(Date.now() - 3_600_000) });
    expect(await tryUpgrade(relay.tunnelUrl, expired)).toMatchObject({ status: 401, body: { code: 'E_TOKEN_EXPIRED' } });
    const device = createDevice({ relay: relay.tunnelUrl, token: expired, forwards: ['http:late.localhost=127.0.0.1:1'] });
    defer(() => device.close());
    await expect(device.online()).rejects.toMatchObject({ code: 'E_TOKEN_EXPIRED' });
    await healthy();
  });

  it('refuses a name held by a device of another subject: 401 E_NAME_TAKEN on connect', async () => {
    const { relay, localPort, healthy, device } = await setup();
    const alice = await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'alice' });
    await device(alice, [`http:shared.localhost=127.0.0.1:${localPort}`]).online();
    const bob = await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'bob' });
    expect(await tryUpgrade(relay.tunnelUrl, bob)).toMatchObject({ status: 401, body: { code: 'E_NAME_TAKEN' } });
    const bobDevice = device(bob, [`http:shared.localhost=127.0.0.1:${localPort}`]);
    await expect(bobDevice.online()).rejects.toMatchObject({ code: 'E_NAME_TAKEN' });
    expect(relay.deviceCount).toBe(2);
    expect(await httpGet(relay.addresses.public.port, 'shared.localhost')).toMatch(/^HTTP\/1.1 200/);
    await healthy();
  });
});

describe('refusals: add_token and delete_token on the control channel', () => {
  it('answers add_token of a taken name with an error and leaves the socket open', async () => {
    const { relay, localPort, healthy, device } = await setup();
    const alice = await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'alice' });
    await device(alice, [`http:shared.localhost=127.0.0.1:${localPort}`]).online();

    const bob = rawDevice(relay.tunnelUrl, await issueToken(SECRET, { domains: ['b.localhost'], sub: 'bob' }), localPort);
    await bob.online;
    const taken = await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'bob' });
    const refusal = await bob.request('add_token', taken).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(ControlError);
    expect(refusal).toMatchObject({ code: 'E_NAME_TAKEN', remote: true });
    expect((refusal as ControlError).message).toMatch(/shared\.localhost/);

    // Still open and still serving; a bad-signature token is refused the same way.
    expect(bob.ws.readyState).toBe(WebSocket.OPEN);
    const forged = await issueToken('wrong', { domains: ['c.localhost'] });
    await expect(bob.request('add_token', forged)).rejects.toMatchObject({ code: 'E_TOKEN_SIGNATURE', remote: true });
    await expect(bob.request('add_token', 42)).rejects.toMatchObject({ remote: true });
    expect(bob.ws.readyState).toBe(WebSocket.OPEN);
    await bob.request('add_token', await issueToken(SECRET, { domains: ['c.localhost'], sub: 'bob' }));
    expect(relay.deviceCount).toBe(3);
    const port = relay.addresses.public.port;
    expect(await httpGet(port, 'b.localhost')).toContain('hello from b.localhost');
    expect(await httpGet(port, 'c.localhost')).toContain('hello from c.localhost');
    expect(await httpGet(port, 'shared.localhost')).toContain('hello from shared.localhost');
    await healthy();
  });

  it('delete_token stops serving the name; adding the same token again serves it again', async () => {
    const { relay, localPort, healthy } = await setup();
    const port = relay.addresses.public.port;
    const token = await issueToken(SECRET, { domains: ['del.localhost'], sub: 'del' });
    const other = await issueToken(SECRET, { domains: ['keep.localhost'], sub: 'del' });
    const raw = rawDevice(relay.tunnelUrl, token, localPort);
    await raw.online;
    await raw.request('add_token', other);
    expect(await httpGet(port, 'del.localhost')).toMatch(/^HTTP\/1.1 200/);

    // Deleting one token: only its names go; the socket stays.
    await raw.request('delete_token', token); // answered [-n, null, null]
    expect(await httpGet(port, 'del.localhost')).toMatch(/^HTTP\/1.1 502/);
    expect(await httpGet(port, 'keep.localhost')).toMatch(/^HTTP\/1.1 200/);
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);
    expect(relay.deviceCount).toBe(2);

    // Observed: the relay keeps no record of deleted tokens, so replaying the same token with
    // add_token is accepted and the name is served again.
    await raw.request('add_token', token);
    expect(await httpGet(port, 'del.localhost')).toMatch(/^HTTP\/1.1 200/);

    // Deleting a token the session does not hold is not an error and changes nothing.
    const stranger = await issueToken(SECRET, { domains: ['stranger.localhost'] });
    await raw.request('delete_token', stranger);
    expect(await httpGet(port, 'del.localhost')).toMatch(/^HTTP\/1.1 200/);

    // '*' removes everything; the socket stays open (with no token and no grace timer).
    await raw.request('delete_token', '*');
    expect(await httpGet(port, 'del.localhost')).toMatch(/^HTTP\/1.1 502/);
    expect(await httpGet(port, 'keep.localhost')).toMatch(/^HTTP\/1.1 502/);
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);
    await healthy();
  });
});

describe('refusals: names and ports not granted', () => {
  it('answers 502 to an HTTP visitor and an unrecognized_name alert to a TLS visitor for a name no token covers', async () => {
    const { relay, healthy } = await setup();
    const port = relay.addresses.public.port;
    const reply = await httpGet(port, 'nobody.localhost');
    expect(reply).toMatch(/^HTTP\/1.1 502/);
    expect(reply).toContain('nobody.localhost');
    const hello = await captureClientHello('nobody.localhost');
    const tls = await visit(port, [hello]);
    // A TLS record in the clear: alert (21), fatal (2), unrecognized_name (112).
    expect([...tls.received]).toEqual([21, 3, 3, 0, 2, 2, 112]);
    await healthy();
  });

  it('does not listen on a port outside tcpPorts, and serves the allowed one', async () => {
    const allowed = await freePort();
    const refused = await freePort();
    const { relay, healthy, device } = await setup({ tcpPorts: String(allowed) });
    const echo = await echoServer();
    const token = await issueToken(SECRET, { ports: [allowed, refused] });
    await device(token, [`tcp:${allowed}=127.0.0.1:${echo}`, `tcp:${refused}=127.0.0.1:${echo}`]).online();
    await until(() => relay.ports.tcp.includes(allowed), `port ${allowed} to listen`);
    expect(relay.ports.tcp).toEqual([allowed]);

    const refusedError = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const socket = connect(refused, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' }));
      });
      socket.on('error', resolve);
    });
    expect(refusedError.code).toBe('ECONNREFUSED');

    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(allowed, '127.0.0.1', () => socket.end('ping through the tunnel'));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
      socket.on('error', reject);
    });
    expect(echoed).toBe('ping through the tunnel');
    await healthy();
  });
});

describe('refusals: garbage', () => {
  it('drops a device that sends garbage on its tunnel, and nobody else', async () => {
    const { relay, healthy } = await setup();
    const target = new URL(relay.tunnelUrl);
    target.searchParams.set('access_token', await issueToken(SECRET, { domains: ['garbage.localhost'] }));
    const ws = new WebSocket(target, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    defer(() => ws.terminate());
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    expect(relay.deviceCount).toBe(2);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const garbage = randomBytes(512);
    garbage[0] = 0x42; // not the 0xfe of an M-PROXY v1 frame
    ws.send(garbage, { binary: true });
    await closed;
    await until(() => relay.deviceCount === 1, 'the garbage device to be dropped');
    expect(await httpGet(relay.addresses.public.port, 'garbage.localhost')).toMatch(/^HTTP\/1.1 502/);
    await healthy();
  });

  it('closes a visitor that sends garbage (E_INVALID_PROTOCOL)', async () => {
    const { relay, log, healthy } = await setup();
    const garbage = Buffer.concat([Buffer.from([0x00, 0x01, 0x02, 0xff]), randomBytes(64)]);
    const { received } = await visit(relay.addresses.public.port, [garbage]);
    expect(received.length).toBe(0);
    await until(() => codesLogged(log).includes('E_INVALID_PROTOCOL'), 'E_INVALID_PROTOCOL to be logged');
    await healthy();
  });

  it('closes a visitor that sends nothing after sniffTimeout (E_SNIFF_TIMEOUT)', async () => {
    const { relay, log, healthy } = await setup({ sniffTimeout: 200 });
    const { received, elapsed } = await visit(relay.addresses.public.port, []);
    expect(received.length).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(180);
    expect(elapsed).toBeLessThan(5000);
    expect(codesLogged(log)).toContain('E_SNIFF_TIMEOUT');
    await healthy();
  });

  it('routes a ClientHello split into 3 segments by its SNI', async () => {
    const { relay, device, healthy } = await setup({ sniffTimeout: 2000 });
    // The "TLS server" records the bytes it gets: the relay passes TLS through untouched.
    const received: Buffer[] = [];
    let gotAll: () => void = () => undefined;
    const capture = createTcpServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        gotAll();
      });
      socket.on('error', () => undefined);
    });
    const capturePort = await listen(capture, defer);
    const token = await issueToken(SECRET, { domains: ['tls.localhost'] });
    await device(token, [`https:tls.localhost=127.0.0.1:${capturePort}`]).online();

    const hello = await captureClientHello('tls.localhost');
    expect(hello.length).toBeGreaterThan(100);
    const cut1 = 3; // inside the record header
    const cut2 = Math.floor(hello.length / 2);
    const parts = [hello.subarray(0, cut1), hello.subarray(cut1, cut2), hello.subarray(cut2)];
    const arrived = new Promise<void>((resolve) => {
      gotAll = () => {
        if (Buffer.concat(received).length >= hello.length) resolve();
      };
    });
    const socket = connect(relay.addresses.public.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    defer(() => void socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await writeParts(socket, parts);
    await arrived;
    expect(Buffer.concat(received).equals(hello)).toBe(true);
    await healthy();
  });
});
