/**
 * Certificates over ACME through the relay, with a real ACME server (Debian's Pebble): the
 * device answers the CA's validation as a visitor of its name, terminates TLS with what it
 * got, and a client that trusts only Pebble's root reaches a plain HTTP app.
 */
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest, Agent } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createDevice, createRelay, issueToken, type Device, type Relay, type AcmeOptions } from '../../src/index.js';
import { defer, httpGet, listen, memoryLogger, selfSignedCertificate, until, within } from '../support/index.js';
import { createPebble, lookupLoopback, startChallTestSrv, type ChallTestSrv, type Pebble } from '../support/pebble.js';

const SECRET = 'acme-test-secret-of-32-bytes-or-more';
afterEach(async (context) => {
  if (process.env.MPROXY_TEST_DEBUG && context.task.result?.state === 'fail') for (const entry of lastLog.entries) console.log(entry.level, entry.message, JSON.stringify(entry.context));
});

let dns: ChallTestSrv;
beforeAll(async () => {
  dns = await startChallTestSrv();
});
afterAll(async () => {
  await dns?.stop();
});

/** A plain HTTP app that echoes what it saw, with a WebSocket echo on /ws. */
async function startApp(): Promise<{ port: number; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, headers: req.headers, remote: req.socket.remoteAddress, version: req.httpVersion }));
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws, req) => {
    ws.on('message', (data) => ws.send(`echo ${data.toString()} from ${String(req.headers['x-forwarded-for'])}`));
  });
  defer(() => wss.close());
  const port = await listen(server, defer);
  return { port, seen };
}

interface Setup {
  relay: Relay;
  pebble: Pebble;
  app: { port: number; seen: IncomingMessage[] };
  token: string;
  certDir: string;
}

async function setup(name: string, ...others: string[]): Promise<Setup> {
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
  defer(() => relay.close());
  const pebble = await createPebble(relay.addresses.public.port, dns.dnsPort);
  defer(() => pebble.stop());
  const app = await startApp();
  const token = await issueToken(SECRET, { domains: [name, ...others] });
  return { relay, pebble, app, token, certDir: mkdtempSync(join(tmpdir(), 'mproxy-certs-')) };
}

let lastLog = memoryLogger();
function startDevice(s: Setup, name: string | string[], acme: Partial<AcmeOptions>, log = memoryLogger(), other?: { name: string; certs: string }): Device {
  lastLog = log;
  const names = [name, other?.name ?? []].flat();
  const device = createDevice({
    relay: s.relay.tunnelUrl,
    token: s.token,
    forwards: names.map((one) => `https:${one}=http://127.0.0.1:${s.app.port}`),
    tls: { acme: { email: 'admin@example.test', directory: s.pebble.directory, ca: s.pebble.ca, certDir: s.certDir, ...acme }, certs: other ? [other.certs] : [] },
    logger: log,
  });
  defer(() => device.close());
  return device;
}

/** Resolves with the serial of the next certificate the device serves for `name`. */
function nextCertificate(device: Device, name: string): Promise<string> {
  return new Promise((resolve) => {
    const stop = device.certificates?.onCertificate((served) => {
      if (served.name !== name) return;
      stop?.();
      resolve(served.serial);
    });
  });
}

/** GET over HTTPS/1.1 through the relay, trusting only `root`, from `localAddress`. */
function getHttps(s: Setup, name: string, root: string, path = '/', agent?: Agent, localAddress = '127.0.0.2'): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: s.relay.addresses.public.port, servername: name, headers: { host: name }, path, ca: root, agent: agent ?? false, localAddress },
      (res) => {
        let body = '';
        const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A GET for `path` with `Host: host` over plain HTTP; resolves with all that came back. */
function httpGetPath(port: number, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.end(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('certificates over ACME through the relay (Pebble)', () => {
  it('tls-alpn-01: obtains a certificate, serves a plain HTTP app over HTTP/1.1, h2 and a WebSocket, with the visitor in X-Forwarded-For', async () => {
    const name = 'alpn.example.test';
    const secondName = 'alpn2.example.test';
    const s = await setup(name, secondName);
    await s.pebble.start();
    const log = memoryLogger();
    const device = startDevice(s, [name, secondName], { challenges: ['tls-alpn-01'] }, log);
    const issued = nextCertificate(device, name);
    const issuedSecond = nextCertificate(device, secondName);
    await device.online();
    await within(Promise.all([issued, issuedSecond]), 20_000, 'two certificates from Pebble');
    // One order at a time: the second name's order starts once the first one's is done.
    const steps = log.entries
      .filter((entry) => entry.message === 'ordering a certificate' || entry.message === 'certificate obtained')
      .map((entry) => `${entry.message} ${String(entry.context.name)}`);
    expect(steps).toEqual([`ordering a certificate ${name}`, `certificate obtained ${name}`, `ordering a certificate ${secondName}`, `certificate obtained ${secondName}`]);
    const root = await s.pebble.root();

    // HTTP/1.1, twice on one kept-alive connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    defer(() => agent.destroy());
    const first = await getHttps(s, name, root, '/one', agent);
    const second = await getHttps(s, name, root, '/two', agent);
    expect(first.status).toBe(200);
    const seen = JSON.parse(first.body) as { url: string; headers: Record<string, string>; version: string };
    expect(seen.url).toBe('/one');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.2');
    expect(seen.headers.forwarded).toContain('for=127.0.0.2');
    expect(JSON.parse(second.body).url).toBe('/two');
    expect(s.app.seen[0]?.socket.remoteAddress).toBe('127.0.0.1');

    // h2 (ALPN), spoken to the app as HTTP/1.1.
    const session = http2Connect(`https://${name}:${s.relay.addresses.public.port}`, { ca: root, host: '127.0.0.1', servername: name, localAddress: '127.0.0.2' } as never);
    defer(() => void session.close());
    const h2Body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/h2', ':authority': name });
      let body = '';
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => resolve(body));
      stream.on('error', reject);
      stream.end();
    });
    expect((session.socket as unknown as { alpnProtocol: string }).alpnProtocol).toBe('h2');
    const h2Seen = JSON.parse(h2Body) as { url: string; headers: Record<string, string> };
    expect(h2Seen.url).toBe('/h2');
    expect(h2Seen.headers.host).toBe(name);
    expect(h2Seen.headers['x-forwarded-for']).toBe('127.0.0.2');

    // A WebSocket.
    const ws = new WebSocket(`wss://${name}:${s.relay.addresses.public.port}/ws`, {
      ca: root,
      localAddress: '127.0.0.2',
      // Every name is 127.0.0.1 here, as the CA's DNS says.
      lookup: lookupLoopback,
    } as never);
    defer(() => ws.terminate());
    await within(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 10_000, 'the WebSocket opening');
    const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    ws.send('hello');
    expect(await within(reply, 10_000, 'the WebSocket echo')).toBe('echo hello from 127.0.0.2');
    expect(log.entries.some((entry) => entry.message === 'certificate obtained')).toBe(true);
  });
});

/** A raw TLS connection to `name` through the relay, for requests on one connection. */
function openTls(s: Setup, name: string, root: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: s.relay.addresses.public.port, servername: name, ca: root, ALPNProtocols: ['http/1.1'] });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One keep-alive request on an open connection; resolves with the app's view of it. */
function requestOn(socket: TLSSocket, name: string, path: string): Promise<{ url: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) {
        socket.off('data', onData);
        resolve(JSON.parse(text.slice(end + 4)) as { url: string });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
  });
}

describe('certificates over ACME: challenges, restarts, renewal, an absent CA', () => {
  it('http-01: obtains a certificate through the relay, and redirects other plain-HTTP visitors to https', async () => {
    const name = 'http01.example.test';
    const s = await setup(name);
    await s.pebble.start();
    const log = memoryLogger();
    const device = startDevice(s, name, { challenges: ['http-01'] }, log);
    const issued = nextCertificate(device, name);
    await device.online();
    await within(issued, 20_000, 'a certificate from Pebble');
    const challenges = log.entries.filter((entry) => entry.message === 'answering an ACME challenge').map((entry) => entry.context.challenge);
    expect(challenges).toEqual(['http-01']);
    const root = await s.pebble.root();
    expect((await getHttps(s, name, root, '/after')).status).toBe(200);

    const plain = await httpGet(s.relay.addresses.public.port, name);
    expect(plain).toMatch(/^HTTP\/1\.1 308/);
    expect(plain).toMatch(new RegExp(`location: https://${name.replace(/\./g, '\\.')}/`, 'i'));
    const unknownToken = await httpGetPath(s.relay.addresses.public.port, name, '/.well-known/acme-challenge/nope');
    expect(unknownToken).toMatch(/^HTTP\/1\.1 404/);
  });

  it('keeps the certificate: a restarted device serves it at once with the CA stopped, then renews it (forced window) without dropping an open connection', async () => {
    const name = 'renew.example.test';
    const s = await setup(name);
    await s.pebble.start();
    const first = startDevice(s, name, {});
    const issued = nextCertificate(first, name);
    await first.online();
    const serialA = await within(issued, 20_000, 'a first certificate');
    const rootA = await s.pebble.root();
    await first.close();
    await s.pebble.stop();
    expect(statSync(join(s.certDir)).isDirectory()).toBe(true);
    const stored = readdirSync(s.certDir, { recursive: true, withFileTypes: true }).filter((file) => file.isFile());
    // The account key and the name's certificate and key, at least.
    expect(stored.length).toBeGreaterThanOrEqual(3);
    for (const file of stored) expect(statSync(join(file.parentPath, file.name)).mode & 0o777, file.name).toBe(0o600);

    // A renewal window that every certificate is in: the restarted device renews at once, and
    // fails while Pebble is down.
    const log = memoryLogger();
    const second = startDevice(s, name, { renewBefore: 100 * 365 * 24 * 3600 * 1000, retryInitialDelay: 200, retryMaxDelay: 400 }, log);
    const renewed = nextCertificate(second, name);
    await second.online();
    const open = await openTls(s, name, rootA);
    defer(() => void open.destroy());
    expect(open.getPeerX509Certificate()?.serialNumber).toBe(serialA);
    expect((await requestOn(open, name, '/before')).url).toBe('/before');
    await until(() => log.entries.some((entry) => entry.context.code !== undefined && /certificate order failed/.test(entry.message)), 'a logged failed renewal', 10_000);
    const failure = log.entries.find((entry) => /certificate order failed/.test(entry.message));
    expect(failure?.context.retryAt).toMatch(/^\d{4}-/);
    expect(failure?.context.serving).toBe('the current certificate');

    await s.pebble.start();
    const serialB = await within(renewed, 20_000, 'the renewed certificate');
    expect(serialB).not.toBe(serialA);
    const rootB = await s.pebble.root();
    expect((await getHttps(s, name, rootB, '/new')).serial).toBe(serialB);
    // The connection opened before the renewal still carries requests.
    expect((await requestOn(open, name, '/still')).url).toBe('/still');
    expect(open.destroyed).toBe(false);
  });

  it('with the CA down before the first order: logs why and retries, visitors get a TLS alert, and the certificate arrives once the CA is back', async () => {
    const name = 'late.example.test';
    // A name with a certificate of its own keeps working meanwhile.
    const other = 'other.example.test';
    const s = await setup(name, other);
    const own = await selfSignedCertificate(other);
    writeFileSync(join(s.certDir, 'other.cert.pem'), own.cert);
    writeFileSync(join(s.certDir, 'other.key.pem'), own.key);
    const log = memoryLogger();
    const device = startDevice(s, name, { retryInitialDelay: 200, retryMaxDelay: 400 }, log, {
      name: other,
      certs: `${other}=${join(s.certDir, 'other.cert.pem')},${join(s.certDir, 'other.key.pem')}`,
    });
    const issued = nextCertificate(device, name);
    await device.online();
    await until(() => log.entries.filter((entry) => /certificate order failed/.test(entry.message)).length >= 2, 'two failed orders', 10_000);
    const failure = log.entries.find((entry) => /certificate order failed/.test(entry.message));
    expect(failure?.message).toMatch(/ECONNREFUSED/);
    expect(failure?.context.retryAt).toMatch(/^\d{4}-/);
    expect(failure?.context.serving).toBe('nothing');

    const refused = await within(
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: s.relay.addresses.public.port, servername: name, rejectUnauthorized: false });
        socket.once('secureConnect', () => resolve('connected'));
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      }),
      5_000,
      'the refusal of a visitor',
    );
    expect(refused).toBe('ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
    expect((await getHttps(s, other, own.cert, '/other')).status).toBe(200);

    await s.pebble.start();
    await within(issued, 20_000, 'the certificate once Pebble is back');
    expect((await getHttps(s, name, await s.pebble.root(), '/late')).status).toBe(200);
  });
});
