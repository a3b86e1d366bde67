/**
 * Attacks on the relay's authentication, many at once, while a legitimate device serves
 * traffic without a break: forged and tampered tokens, other algorithms, tokens for names and
 * ports someone else holds, bare connections that never authenticate, and the replay of a
 * token after `delete_token`. Each attempt is refused with its documented code, on connect (HTTP
 * 401 `{message, code}`) and on the control channel (`[-n, {message, code}]`, socket left open),
 * and the relay logs each refusal with that code.
 */
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import { NEVER, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  CLOSE_NO_TOKEN,
  connectSocket,
  createControlChannel,
  createTunnel,
  fromWebSocket,
  issueToken,
  type ControlChannel,
  type Device,
  type Relay,
} from '../../src/index.js';
import { answerHello } from '../../src/control/hello.js';
import {
  KiB,
  SECRET,
  Tape,
  countCode,
  defer,
  echoServer,
  freePort,
  httpGet,
  memoryLogger,
  pool,
  report,
  serve,
  startDevice,
  startRelay,
  tryUpgrade,
  until,
  within,
} from './helpers.js';


/** Attempts of each kind; they run CONCURRENCY at a time. */
const ATTEMPTS = 20;
const CONCURRENCY = 10;
const key = new TextEncoder().encode(SECRET);

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A JWT signed with any algorithm and any claims (jose does not check mproxy's rules). */
function sign(payload: JWTPayload, alg = 'HS256', secret: Uint8Array = key): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt().sign(secret);
}

/** A device built from the framework's parts, to speak control commands itself. */
interface RawDevice {
  readonly ws: WebSocket;
  readonly channel: ControlChannel;
  request(command: string, ...args: unknown[]): Promise<unknown>;
}

async function rawDevice(url: string, token: string | undefined, localPort: number): Promise<RawDevice> {
  const target = new URL(url);
  if (token !== undefined) target.searchParams.set('access_token', token);
  const ws = new WebSocket(target, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const tunnel = createTunnel(fromWebSocket(ws), { unknownData: 'open' });
  const channel = createControlChannel(tunnel);
  channel.handle('grant', () => NEVER);
  const online = firstValueFrom(answerHello(channel));
  tunnel.clients$.subscribe((client) => connectSocket(client, net.connect(localPort, '127.0.0.1')));
  defer(() => {
    tunnel.destroy();
    ws.terminate();
  });
  await within(online, 3_000, 'the raw device to be online');
  return { ws, channel, request: (command, ...args) => firstValueFrom(channel.request(command, ...args)) };
}

/**
 * Traffic that must never stop: HTTP requests to the legitimate name, one after the other, and
 * one TCP visitor on its port ping-ponging 16 KiB chunks of the tape; both until `stop()`.
 */
function keepServing(relay: Relay, port: number): { stop(): Promise<{ requests: number; failures: string[]; echoed: number }> } {
  let running = true;
  const failures: string[] = [];
  let requests = 0;
  const http = (async () => {
    while (running) {
      const reply = await httpGet(relay.addresses.public.port, 'legit.localhost').catch((error: Error) => `error: ${error.message}`);
      if (reply.startsWith('HTTP/1.1 200') && reply.includes('hello from legit.localhost')) requests++;
      else failures.push(`http: ${reply.slice(0, 60)}`);
    }
  })();
  const tape = new Tape(256 * KiB);
  const checker = tape.checker(0);
  const socket = net.connect({ host: '127.0.0.1', port });
  defer(() => void socket.destroy());
  let written = 0;
  const next = (): void => {
    if (!running) return void socket.end();
    socket.write(tape.slice(written, 16 * KiB));
    written += 16 * KiB;
  };
  socket.on('connect', next);
  socket.on('data', (chunk: Buffer) => {
    if (!checker.check(chunk)) failures.push(`tcp: corrupted at ${checker.mismatchAt ?? '?'}`);
    if (checker.received === written) next();
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('error', (error) => failures.push(`tcp: ${error.message}`));
    socket.on('close', () => resolve());
  });
  return {
    async stop() {
      running = false;
      await within(http, 5_000, 'the HTTP loop to stop');
      await within(closed, 5_000, 'the TCP visitor to finish');
      if (checker.received !== written) failures.push(`tcp: ${checker.received} of ${written} echoed`);
      return { requests, failures, echoed: checker.received };
    },
  };
}

interface Setup {
  relay: Relay;
  log: ReturnType<typeof memoryLogger>;
  legit: Device;
  httpPort: number;
  legitPort: number;
  freeAllowedPort: number;
}

async function setup(): Promise<Setup> {
  const log = memoryLogger();
  const legitPort = await freePort();
  const freeAllowedPort = await freePort();
  const relay = await startRelay({ logger: log, tcpPorts: `${legitPort},${freeAllowedPort}`, tokenGrace: 300 });
  const { port: httpPort } = await serve(createHttpServer((req, res) => res.end(`hello from ${req.headers.host ?? '?'}`)));
  const { port: echoPort } = await echoServer();
  const token = await issueToken(SECRET, { domains: ['legit.localhost'], ports: [legitPort], sub: 'legit' });
  const legit = await startDevice(relay, {
    token,
    forwards: [`http:legit.localhost=127.0.0.1:${httpPort}`, `tcp:${legitPort}=127.0.0.1:${echoPort}`],
  });
  await until(() => relay.ports.tcp.includes(legitPort), `the relay listening on TCP ${legitPort}`);
  return { relay, log, legit, httpPort, legitPort, freeAllowedPort };
}

/** A token whose payload was swapped for another after signing (the signature no longer fits). */
async function tampered(): Promise<string> {
  const [header, , signature] = (await issueToken(SECRET, { domains: ['mallory.localhost'], sub: 'mallory' })).split('.');
  return `${header}.${base64url({ domains: ['legit.localhost'], sub: 'legit', iat: Math.floor(Date.now() / 1000) })}.${signature}`;
}

describe('auth attacks', () => {
  it('forged, tampered and foreign tokens are refused with their codes, logged, and the legitimate device serves throughout', { timeout: 60_000 }, async () => {
    const { relay, log, legit, httpPort, legitPort, freeAllowedPort } = await setup();
    const tunnel = legit.tunnel;
    const traffic = keepServing(relay, legitPort);

    const attacks: { name: string; code: string; token: () => Promise<string> }[] = [
      { name: 'wrong secret', code: 'E_TOKEN_SIGNATURE', token: () => issueToken('not-the-secret', { domains: ['legit.localhost'], sub: 'legit' }) },
      {
        name: 'alg none',
        code: 'E_TOKEN_SIGNATURE',
        token: async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ domains: ['legit.localhost'], sub: 'legit' })}.`,
      },
      { name: 'HS512 with the right secret', code: 'E_TOKEN_SIGNATURE', token: () => sign({ domains: ['legit.localhost'], sub: 'legit' }, 'HS512') },
      { name: 'HS384 with the right secret', code: 'E_TOKEN_SIGNATURE', token: () => sign({ domains: ['legit.localhost'], sub: 'legit' }, 'HS384') },
      { name: 'tampered payload', code: 'E_TOKEN_SIGNATURE', token: tampered },
      { name: 'garbage', code: 'E_TOKEN_MALFORMED', token: async () => 'not.a-jwt' },
      { name: 'claims of the wrong type', code: 'E_TOKEN_CLAIMS', token: () => sign({ domains: 'legit.localhost', sub: 'mallory' }) },
      {
        name: 'expired',
        code: 'E_TOKEN_EXPIRED',
        token: () => issueToken(SECRET, { domains: ['late.localhost'] }, { expiresIn: 1, now: new Date(Date.now() - 3_600_000) }),
      },
      { name: "another subject's name", code: 'E_NAME_TAKEN', token: () => issueToken(SECRET, { domains: ['legit.localhost'], sub: 'mallory' }) },
      { name: "another subject's name, no subject", code: 'E_NAME_TAKEN', token: () => issueToken(SECRET, { domains: ['legit.localhost'] }) },
      { name: "another subject's port", code: 'E_PORT_TAKEN', token: () => issueToken(SECRET, { ports: [legitPort], sub: 'mallory' }) },
      {
        name: "a free name along with another subject's (all or nothing)",
        code: 'E_NAME_TAKEN',
        token: () => issueToken(SECRET, { domains: ['free.localhost', 'legit.localhost'], sub: 'mallory' }),
      },
    ];

    // On connect: HTTP 401 {message, code}, before any upgrade.
    const onConnect: Record<string, number> = {};
    for (const attack of attacks) {
      const token = await attack.token();
      await pool(ATTEMPTS, CONCURRENCY, async () => {
        const answer = await tryUpgrade(relay.tunnelUrl, token);
        expect(answer, attack.name).not.toBe('open');
        expect(answer, attack.name).toMatchObject({ status: 401, body: { code: attack.code } });
        expect(typeof (answer as { body: { message?: unknown } }).body.message, attack.name).toBe('string');
        onConnect[attack.code] = (onConnect[attack.code] ?? 0) + 1;
      });
    }
    // Each refusal was logged with its code (as `device refused: …`).
    const refusedOnConnect = log.entries.filter((e) => e.message.startsWith('device refused'));
    expect(refusedOnConnect).toHaveLength(attacks.length * ATTEMPTS);
    for (const [code, count] of Object.entries(onConnect)) expect(refusedOnConnect.filter((e) => e.context['code'] === code)).toHaveLength(count);
    expect(relay.deviceCount).toBe(1);
    expect(await httpGet(relay.addresses.public.port, 'free.localhost')).toMatch(/^HTTP\/1.1 502/);

    // On the control channel: `[-n, {message, code}]`, the socket left open, the refusal logged.
    const mallory = await rawDevice(relay.tunnelUrl, await issueToken(SECRET, { domains: ['mallory.localhost'], sub: 'mallory' }), httpPort);
    const before = log.entries.length;
    for (const attack of attacks) {
      const token = await attack.token();
      await pool(ATTEMPTS, CONCURRENCY, async () => {
        const refusal = await mallory.request('add_token', token).then(
          () => 'accepted',
          (error: unknown) => error,
        );
        expect(refusal, attack.name).toMatchObject({ code: attack.code, remote: true });
      });
    }
    expect(mallory.ws.readyState).toBe(WebSocket.OPEN);
    const refusedOnControl = log.entries.slice(before).filter((e) => e.level === 'warn' && e.message.startsWith('token refused'));
    expect(refusedOnControl).toHaveLength(attacks.length * ATTEMPTS);
    for (const [code, count] of Object.entries(onConnect)) expect(refusedOnControl.filter((e) => e.context['code'] === code)).toHaveLength(count);
    // The log line names the device it is about.
    expect(refusedOnControl.every((e) => typeof e.context['device'] === 'string')).toBe(true);
    // The refused tokens granted mallory nothing.
    expect(await httpGet(relay.addresses.public.port, 'free.localhost')).toMatch(/^HTTP\/1.1 502/);
    expect(await httpGet(relay.addresses.public.port, 'mallory.localhost')).toContain('hello from mallory.localhost');

    // Valid tokens around the legitimate one: accepted, yet they take nothing from it.
    // A wildcard over its name: the exact holder shadows it.
    await mallory.request('add_token', await issueToken(SECRET, { domains: ['*.localhost'], sub: 'mallory' }));
    for (let i = 0; i < 10; i++) expect(await httpGet(relay.addresses.public.port, 'legit.localhost')).toContain('hello from legit.localhost');
    // A token whose only claim is a port outside tcpPorts grants nothing: refused with
    // E_PORT_NOT_ALLOWED (logged once), nothing listens.
    const outside = await freePort();
    await expect(mallory.request('add_token', await issueToken(SECRET, { ports: [outside], sub: 'mallory' }))).rejects.toMatchObject({
      code: 'E_PORT_NOT_ALLOWED',
      remote: true,
    });
    expect(countCode(log, 'E_PORT_NOT_ALLOWED')).toBe(1);
    // An allowed port nobody holds: granted, as the policy says.
    await mallory.request('add_token', await issueToken(SECRET, { ports: [freeAllowedPort], sub: 'mallory' }));
    await until(() => relay.ports.tcp.includes(freeAllowedPort), 'the free allowed port to listen');
    expect(relay.ports.tcp).not.toContain(outside);

    const served = await traffic.stop();
    expect(served.failures).toEqual([]);
    expect(served.requests).toBeGreaterThan(0);
    expect(legit.tunnel).toBe(tunnel);
    expect(legit.state).toBe('online');
    report('auth-attacks', {
      attemptsOnConnect: attacks.length * ATTEMPTS,
      attemptsOnControl: attacks.length * ATTEMPTS,
      byCode: onConnect,
      legitRequestsServedMeanwhile: served.requests,
      legitTcpEchoedKiB: Math.round(served.echoed / KiB),
    });
  });

  it('bare connections that never present a token are closed after tokenGrace (4401, E_NO_TOKEN)', async () => {
    const { relay, log, legit, legitPort } = await setup();
    const tunnel = legit.tunnel;
    const traffic = keepServing(relay, legitPort);
    const bare = Array.from({ length: ATTEMPTS }, () => {
      const ws = new WebSocket(relay.tunnelUrl, { perMessageDeflate: false });
      ws.on('error', () => undefined);
      defer(() => ws.terminate());
      return new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    });
    const codes = await within(Promise.all(bare), 5_000, 'the relay to close every bare connection');
    expect(codes).toEqual(Array.from({ length: ATTEMPTS }, () => CLOSE_NO_TOKEN));
    expect(countCode(log, 'E_NO_TOKEN')).toBe(ATTEMPTS);
    await until(() => relay.deviceCount === 1, 'the relay to forget them');
    const served = await traffic.stop();
    expect(served.failures).toEqual([]);
    expect(legit.tunnel).toBe(tunnel);
  });

  it('a token replayed after delete_token is accepted again: delete_token is not revocation (documented)', async () => {
    const { relay, log, httpPort } = await setup();
    const port = relay.addresses.public.port;
    const keep = await issueToken(SECRET, { domains: ['keep.localhost'], sub: 'alice' });
    const rotated = await issueToken(SECRET, { domains: ['rotated.localhost'], sub: 'alice' });
    const alice = await rawDevice(relay.tunnelUrl, keep, httpPort);
    await alice.request('add_token', rotated);
    expect(await httpGet(port, 'rotated.localhost')).toMatch(/^HTTP\/1.1 200/);

    await alice.request('delete_token', rotated);
    expect(await httpGet(port, 'rotated.localhost')).toMatch(/^HTTP\/1.1 502/);
    expect(log.entries.some((e) => e.message === 'token deleted')).toBe(true);

    // The relay keeps no record of deleted tokens: the same token is accepted again, on the
    // same socket (add_token) and on a new one (connect), by anyone who holds it.
    await alice.request('add_token', rotated);
    expect(await httpGet(port, 'rotated.localhost')).toMatch(/^HTTP\/1.1 200/);
    await alice.request('delete_token', '*');
    expect(await httpGet(port, 'rotated.localhost')).toMatch(/^HTTP\/1.1 502/);
    const replayer = await rawDevice(relay.tunnelUrl, rotated, httpPort);
    expect(await httpGet(port, 'rotated.localhost')).toMatch(/^HTTP\/1.1 200/);
    expect(replayer.ws.readyState).toBe(WebSocket.OPEN);
    // Only a different secret (or an `exp`) ends a token's life.
    expect(await tryUpgrade(relay.tunnelUrl, await issueToken('rotated-secret', { domains: ['rotated.localhost'], sub: 'alice' }))).toMatchObject({
      status: 401,
      body: { code: 'E_TOKEN_SIGNATURE' },
    });
  });
});
