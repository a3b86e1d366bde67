/**
 * Bad input, fuzzed (seeded: `RELIABILITY_SEED=<seed>` replays a run), at the relay's two doors:
 *
 * - the tunnel endpoint, by a device holding a valid token: random bytes, truncated frames,
 *   headers announcing more than `maxFrameSize`, frames for ids that do not exist, malformed
 *   control bodies, text messages;
 * - the visitor port: random bytes, HTTP heads with garbage, real ClientHellos cut at random
 *   points and mangled, and a slowloris (many sockets sending one byte, then nothing).
 *
 * After each batch the relay still serves a well-behaved visitor through the healthy device,
 * and it lets go of everything the fuzzer opened: devices, clients, sockets.
 */
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameDecoder,
  decodeErrorBody,
  encodeFrame,
  issueToken,
  type Frame,
  type FrameInit,
  type Relay,
} from '../../src/index.js';
import {
  SECRET,
  SEED,
  between,
  captureClientHello,
  countCode,
  defer,
  echoServer,
  httpGet,
  memoryLogger,
  pool,
  prng,
  pseudoBytes,
  report,
  resourceCount,
  serve,
  startDevice,
  startRelay,
  until,
  within,
} from './helpers.js';


// A TLS alert record, as RFC 5246 and 6066 write it: alert (21), TLS 1.2, 2 bytes, fatal, unrecognized_name (112).
const UNRECOGNIZED_NAME = Buffer.from([21, 3, 3, 0, 2, 2, 112]);
const CASES = 200;
const BATCH = 25;
const CONCURRENCY = 8;

// The relay with one healthy device

interface Setup {
  relay: Relay;
  log: ReturnType<typeof memoryLogger>;
  /** Fails unless a visitor is served through the healthy device. */
  healthy(): Promise<void>;
  /** Waits until the relay holds only the healthy device and the process only its sockets. */
  settled(what: string): Promise<void>;
}

async function setup(options: { sniffTimeout?: number } = {}): Promise<Setup> {
  const log = memoryLogger();
  const relay = await startRelay({ logger: log, sniffTimeout: options.sniffTimeout ?? 2_000 });
  const { port: httpPort } = await serve(createHttpServer((req, res) => res.end(`hello from ${req.headers.host ?? '?'}`)));
  const { port: echoPort } = await echoServer();
  const token = await issueToken(SECRET, { domains: ['ok.localhost', 'tls.localhost'], sub: 'healthy' });
  const device = await startDevice(relay, {
    token,
    forwards: [`http:ok.localhost=127.0.0.1:${httpPort}`, `https:tls.localhost=127.0.0.1:${echoPort}`],
  });
  const healthy = async (): Promise<void> => {
    const reply = await within(httpGet(relay.addresses.public.port, 'ok.localhost'), 5_000, 'a healthy visit');
    expect(reply).toMatch(/^HTTP\/1.1 200/);
    expect(reply).toContain('hello from ok.localhost');
  };
  await healthy();
  // The healthy device's WebSocket, both ends; nothing else.
  await until(() => resourceCount('TCPSocketWrap') === 2, 'only the tunnel sockets open');
  const settled = async (what: string): Promise<void> => {
    await until(() => relay.deviceCount === 1, `the relay to hold only the healthy device ${what}`);
    await until(() => relay.clientCount === 0 && device.tunnel?.clients.size === 0, `no client left ${what}`);
    await until(() => resourceCount('TCPSocketWrap') === 2, `the fuzzer's sockets to be closed ${what}`);
  };
  return { relay, log, healthy, settled };
}

// The tunnel endpoint

/** A device speaking raw bytes: what it sends is up to the test; what it gets is decoded. */
class RawDevice {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<number>;
  closedByUs = false;
  decodeError: Error | undefined;
  readonly #decoder = new FrameDecoder();
  readonly #waiters = new Set<() => void>();

  constructor(url: string, token: string) {
    const target = new URL(url);
    target.searchParams.set('access_token', token);
    this.ws = new WebSocket(target, { perMessageDeflate: false });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer) => {
      try {
        this.frames.push(...this.#decoder.push(data));
      } catch (error) {
        this.decodeError = error as Error;
      }
      for (const wake of this.#waiters) wake();
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code) => {
        for (const wake of this.#waiters) wake();
        resolve(code);
      }),
    );
    defer(() => this.ws.terminate());
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode ?? '?'}`)));
    });
  }

  send(parts: readonly (Buffer | string)[]): void {
    for (const part of parts) this.ws.send(part, { binary: typeof part !== 'string' });
  }

  /** Resolves with the first frame (seen or to come) that `predicate` accepts. */
  waitFrame(predicate: (frame: Frame) => boolean, what: string): Promise<Frame> {
    return within(
      new Promise<Frame>((resolve, reject) => {
        const check = (): void => {
          const found = this.frames.find(predicate);
          if (found) {
            this.#waiters.delete(check);
            resolve(found);
          } else if (this.ws.readyState === WebSocket.CLOSED) {
            this.#waiters.delete(check);
            reject(new Error(`closed before ${what}`));
          }
        };
        this.#waiters.add(check);
        check();
      }),
      3_000,
      what,
    );
  }

  /** Sends a control request no relay knows; resolves once it is answered (`E_UNKNOWN_COMMAND`). */
  async probe(id: number): Promise<void> {
    this.send([Buffer.from(encodeFrame({ kind: 'control', data: Buffer.from(JSON.stringify([id, 'fuzz-probe'])) }))]);
    const answer = await this.waitFrame((frame) => frame.kind === 'control' && controlJson(frame)?.[0] === -id, `the answer to probe ${id}`);
    expect(controlJson(answer)?.[1]).toMatchObject({ code: 'E_UNKNOWN_COMMAND' });
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    this.ws.close(1000);
    await within(this.closed, 3_000, 'the fuzz socket to close');
  }
}

function controlJson(frame: Frame): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(frame.data).toString('utf8'));
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What a tunnel fuzz case sends, and what the relay must do about it. */
interface TunnelCase {
  readonly kind: string;
  readonly parts: (Buffer | string)[];
  /** `close`: the relay drops the device; `serve`: it answers a probe after; `any`: either. */
  readonly expect: 'close' | 'serve' | 'any';
  /** Client ids whose frames the relay must answer with an `error` of this code. */
  readonly refusedIds?: { ids: string[]; code: string };
}

function randomId(random: () => number): { family: string; address: string; port: number } {
  return { family: 'IPv4', address: `10.${between(random, 0, 255)}.${between(random, 0, 255)}.${between(random, 1, 254)}`, port: between(random, 1, 65535) };
}

/** Cuts `bytes` into 1–6 messages at random points. */
function cut(random: () => number, bytes: Buffer): Buffer[] {
  const points = Array.from({ length: between(random, 0, 5) }, () => between(random, 0, bytes.length)).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const point of [...points, bytes.length]) {
    if (point > at) parts.push(bytes.subarray(at, point));
    at = point;
  }
  return parts.length > 0 ? parts : [bytes];
}

function frameBytes(frame: FrameInit): Buffer {
  return Buffer.from(encodeFrame(frame));
}

/** A raw frame with the header given as text (no checks: the point is to send what is wrong). */
function rawFrame(header: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.from(header, 'latin1');
  return Buffer.concat([Buffer.from([0xfe, head.length & 0xff]), head, body]);
}

const CONTROL_BODIES: ((random: () => number) => Buffer)[] = [
  () => Buffer.alloc(0),
  (r) => pseudoBytes(r, between(r, 1, 200)),
  () => Buffer.from('{"not":"an array"}'),
  () => Buffer.from('[]'),
  () => Buffer.from('[null]'),
  () => Buffer.from('[1.5, "x"]'),
  () => Buffer.from('["x", 1]'),
  (r) => Buffer.from(JSON.stringify([between(r, 1, 1e6)])),
  (r) => Buffer.from(JSON.stringify([-between(r, 1, 1e6), null])),
  () => Buffer.from('[0, "not an error object"]'),
  (r) => Buffer.from(JSON.stringify([between(r, 1, 1e6), 'add_token', pseudoBytes(r, 40).toString('base64')])),
  (r) => Buffer.from(JSON.stringify([between(r, 1, 1e6), 'add_token', { jwt: 1 }])),
  (r) => Buffer.from(JSON.stringify([between(r, 1, 1e6), 'delete_token', 42])),
  (r) => Buffer.from(JSON.stringify([between(r, 1, 1e6), 'hello', 'x'.repeat(between(r, 0, 5000))])),
  (r) => Buffer.from(JSON.stringify([Number.MAX_SAFE_INTEGER + between(r, 1, 9), 'fuzz'])),
  () => Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`),
  () => Buffer.from('[1, "__proto__", {"__proto__": {"polluted": true}}]'),
];

function tunnelCase(random: () => number): TunnelCase {
  const pick = between(random, 0, 8);
  switch (pick) {
    case 0: {
      // Random bytes that do not start with the version byte.
      const bytes = pseudoBytes(random, between(random, 1, 2048));
      if (bytes[0] === 0xfe) bytes[0] = 0x42;
      return { kind: 'random', parts: cut(random, bytes), expect: 'close' };
    }
    case 1:
      // The version byte, then anything.
      return { kind: 'random-after-version', parts: cut(random, Buffer.concat([Buffer.from([0xfe]), pseudoBytes(random, between(random, 1, 2048))])), expect: 'any' };
    case 2: {
      // A valid frame cut short, then the socket closed by the device.
      const frame = frameBytes({ kind: 'data', ...randomId(random), service: 'tcp', data: pseudoBytes(random, between(random, 1, 4096)) });
      return { kind: 'truncated', parts: cut(random, frame.subarray(0, between(random, 1, frame.length - 1))), expect: 'any' };
    }
    case 3: {
      // A header announcing more than maxFrameSize (up to absurd lengths): refused at the header.
      const length = DEFAULT_MAX_FRAME_SIZE + 1 + Math.floor(random() * 2 ** between(random, 0, 40));
      const id = randomId(random);
      return { kind: 'oversized', parts: cut(random, rawFrame(`IPv4,${id.address},${id.port},${length},tcp`, pseudoBytes(random, 64))), expect: 'close' };
    }
    case 4: {
      // Data for clients that do not exist: each refused with E_NO_CONN; the device stays.
      const ids = Array.from({ length: between(random, 1, 5) }, () => randomId(random));
      const frames = ids.map((id) => frameBytes({ kind: 'data', ...id, service: 'tcp', data: pseudoBytes(random, between(random, 1, 512)) }));
      return {
        kind: 'unknown-id-data',
        parts: cut(random, Buffer.concat(frames)),
        expect: 'serve',
        refusedIds: { ids: ids.map((id) => `${id.family},${id.address},${id.port}`), code: 'E_NO_CONN' },
      };
    }
    case 5: {
      // end / error / pause / resume for clients that do not exist: dropped; a connection from
      // the device: the relay takes none (E_NOT_ACCEPTING).
      const kinds = ['end', 'error', 'pause', 'resume'] as const;
      const frames = Array.from({ length: between(random, 1, 6) }, () =>
        frameBytes({ kind: kinds[between(random, 0, 3)] as (typeof kinds)[number], ...randomId(random), data: pseudoBytes(random, between(random, 0, 64)) }),
      );
      const id = randomId(random);
      frames.push(frameBytes({ kind: 'connection', ...id, service: 'tcp', serviceport: 1, name: '' }));
      return {
        kind: 'unknown-id-signals',
        parts: cut(random, Buffer.concat(frames)),
        expect: 'serve',
        refusedIds: { ids: [`${id.family},${id.address},${id.port}`], code: 'E_NOT_ACCEPTING' },
      };
    }
    case 6: {
      // Malformed control bodies: answered E_BAD_COMMAND or ignored; the device stays.
      const frames = Array.from({ length: between(random, 1, 4) }, () => {
        const body = (CONTROL_BODIES[between(random, 0, CONTROL_BODIES.length - 1)] as (r: () => number) => Buffer)(random);
        return frameBytes({ kind: 'control', data: body });
      });
      return { kind: 'bad-control', parts: cut(random, Buffer.concat(frames)), expect: 'serve' };
    }
    case 7:
      // A text message: not M-PROXY (1003, E_TEXT_MESSAGE).
      return { kind: 'text', parts: ['[1, "hello"]'], expect: 'close' };
    default: {
      // Header garbage after a well-formed prefix: bad numbers, too many fields, control chars.
      const headers = [
        'IPv4,1.2.3.4,99999,10,tcp',
        'IPv4,1.2.3.4,80,-1,tcp',
        'IPv4,1.2.3.4,80,1e3,tcp',
        'IPv4,1.2.3.4,80,10,tcp,1,2,3,4,5',
        'IPv4,1.2.3.4\n,80,0,tcp',
        ',,',
        'IPv4,1.2.3.4,80,0x10,tcp',
      ];
      const header = headers[between(random, 0, headers.length - 1)] as string;
      return { kind: 'bad-header', parts: cut(random, rawFrame(header, pseudoBytes(random, 16))), expect: 'close' };
    }
  }
}

async function runTunnelCase(relay: Relay, token: string, c: TunnelCase, probeId: number): Promise<string> {
  const device = new RawDevice(relay.tunnelUrl, token);
  await within(device.opened(), 3_000, 'the fuzz device to connect');
  device.send(c.parts);
  if (c.expect === 'close') {
    await within(device.closed, 3_000, `the relay to drop the device after ${c.kind}`);
    expect(device.closedByUs).toBe(false);
    return 'dropped';
  }
  if (c.expect === 'serve') {
    await device.probe(probeId);
    for (const id of c.refusedIds?.ids ?? []) {
      const refusal = await device.waitFrame((f) => f.kind === 'error' && f.id === id, `the refusal of ${id}`);
      expect(decodeErrorBody(refusal.data).code).toBe(c.refusedIds?.code);
    }
    expect(device.decodeError).toBeUndefined();
    await device.close();
    return 'served';
  }
  // Either: the relay may be waiting for the rest of a frame; the device hangs up.
  const dropped = device.ws.readyState !== WebSocket.OPEN;
  if (!dropped) await device.close();
  else await within(device.closed, 3_000, 'the close');
  return dropped ? 'dropped' : 'hung up';
}

// The visitor port

/** Writes each part once the previous one was flushed (and an event-loop turn passed). */
async function writeParts(socket: net.Socket, parts: readonly Buffer[]): Promise<void> {
  for (const part of parts) {
    if (socket.destroyed || socket.writableEnded) return;
    await new Promise<void>((resolve) => socket.write(part, () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Sends `parts`, ends, and resolves with what came back once the socket has closed. */
function visit(port: number, parts: readonly Buffer[], end = true): Promise<{ received: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    defer(() => void socket.destroy());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), ms: performance.now() - started }));
    socket.once('connect', () => {
      void writeParts(socket, parts).then(() => {
        if (end && !socket.destroyed) socket.end();
      });
    });
  });
}

interface VisitorCase {
  readonly kind: string;
  readonly parts: Buffer[];
  /** `echo`: routed to the TLS echo, the same bytes come back; `refused`: nothing comes back. */
  readonly expect: 'echo' | 'refused' | 'any';
}

function visitorCase(random: () => number, hello: Buffer): VisitorCase {
  const pick = between(random, 0, 5);
  switch (pick) {
    case 0: {
      const bytes = pseudoBytes(random, between(random, 1, 2048));
      return { kind: 'random', parts: cut(random, bytes), expect: 'any' };
    }
    case 1:
      // The ClientHello cut at random points, nothing else: routed by SNI, passed through.
      return { kind: 'hello-cut', parts: cut(random, hello), expect: 'echo' };
    case 2: {
      // Cut and truncated: the record never completes; the visitor gives up (ends).
      return { kind: 'hello-truncated', parts: cut(random, hello.subarray(0, between(random, 1, hello.length - 1))), expect: 'refused' };
    }
    case 3: {
      // Bytes flipped at random: refused, or routed if the damage missed what the sniffer reads.
      const bytes = Buffer.from(hello);
      for (let n = between(random, 1, 8); n > 0; n--) bytes[between(random, 0, bytes.length - 1)] = between(random, 0, 255);
      return { kind: 'hello-flipped', parts: cut(random, bytes), expect: 'any' };
    }
    case 4: {
      // Garbage before or after the record.
      const garbage = pseudoBytes(random, between(random, 1, 512));
      const before = random() < 0.5;
      return { kind: before ? 'garbage-then-hello' : 'hello-then-garbage', parts: cut(random, before ? Buffer.concat([garbage, hello]) : Buffer.concat([hello, garbage])), expect: before ? 'any' : 'echo' };
    }
    default: {
      // HTTP heads with garbage in them.
      const heads = [
        () => `GET / HTTP/1.1\r\nHost: ${pseudoBytes(random, between(random, 1, 64)).toString('latin1')}\r\n\r\n`,
        () => `GET / HTTP/1.1\r\n${'X-Long: '.padEnd(between(random, 100, 20_000), 'a')}\r\nHost: ok.localhost\r\n\r\n`,
        () => `GET / HTTP/1.1\r\nHost: ok.localhost\r\nHost: evil.localhost\r\n\r\n`,
        () => `GET / HTTP/1.1\r\nHost:\r\n\r\n`,
        () => `\r\n\r\n\r\n`,
        () => `GET ${'/'.repeat(between(random, 1, 30_000))} HTTP/1.1\r\n\r\n`,
      ];
      const head = (heads[between(random, 0, heads.length - 1)] as () => string)();
      return { kind: 'http-garbage', parts: cut(random, Buffer.from(head, 'latin1')), expect: 'any' };
    }
  }
}

describe('bad input', () => {
  it(`the tunnel endpoint survives ${CASES} fuzzed devices with valid tokens`, { timeout: 60_000 }, async () => {
    const { relay, log, healthy, settled } = await setup();
    const token = await issueToken(SECRET, { domains: ['fuzz.localhost'], sub: 'fuzzer' });
    const random = prng(SEED);
    const cases = Array.from({ length: CASES }, () => tunnelCase(random));
    const outcomes: Record<string, Record<string, number>> = {};
    for (let from = 0; from < CASES; from += BATCH) {
      await pool(Math.min(BATCH, CASES - from), CONCURRENCY, async (i) => {
        const c = cases[from + i] as TunnelCase;
        let outcome: string;
        try {
          outcome = await runTunnelCase(relay, token, c, 1_000 + from + i);
        } catch (error) {
          throw new Error(`case ${from + i} (${c.kind}, seed ${SEED}): ${(error as Error).message}`, { cause: error });
        }
        const byKind = (outcomes[c.kind] ??= {});
        byKind[outcome] = (byKind[outcome] ?? 0) + 1;
      });
      await healthy();
      await settled(`after tunnel batch ${from / BATCH + 1}`);
    }
    // Each drop is logged by the relay with its reason.
    expect(log.entries.filter((e) => e.message === 'device disconnected').length).toBe(CASES);
    report('bad-input:tunnel', { seed: SEED, cases: CASES, outcomes });
  });

  it(`the visitor port survives ${CASES} fuzzed visitors: random bytes, HTTP garbage, cut and mangled ClientHellos`, { timeout: 60_000 }, async () => {
    const { relay, log, healthy, settled } = await setup({ sniffTimeout: 1_000 });
    const hello = await captureClientHello('tls.localhost');
    const random = prng(SEED + 1);
    const cases = Array.from({ length: CASES }, () => visitorCase(random, hello));
    const outcomes: Record<string, Record<string, number>> = {};
    for (let from = 0; from < CASES; from += BATCH) {
      await pool(Math.min(BATCH, CASES - from), CONCURRENCY, async (i) => {
        const c = cases[from + i] as VisitorCase;
        const sent = Buffer.concat(c.parts);
        const { received } = await within(visit(relay.addresses.public.port, c.parts), 5_000, `visitor case ${from + i} (${c.kind}) to end`);
        const what = `case ${from + i} (${c.kind}, seed ${SEED + 1})`;
        if (c.expect === 'echo') expect(received.equals(sent), what).toBe(true);
        if (c.expect === 'refused') expect(received.length, what).toBe(0);
        // Whatever comes back is the relay's own 502 page, its TLS alert for a name it does not
        // route (a ClientHello whose SNI was mangled), an HTTP head routed to the healthy
        // HTTP service (its answer), or bytes sent to the TLS echo, passed through untouched.
        let outcome: string;
        if (received.length === 0) outcome = 'closed';
        else if (received.subarray(0, 12).toString('latin1') === 'HTTP/1.1 502' && received.includes('No device serves')) outcome = '502 page';
        else if (received.equals(UNRECOGNIZED_NAME)) outcome = 'unrecognized_name alert';
        else if (c.kind === 'http-garbage' && received.subarray(0, 9).toString('latin1') === 'HTTP/1.1 ') {
          outcome = `HTTP ${received.subarray(9, 12).toString('latin1')} from the service`;
        } else {
          expect(sent.subarray(0, received.length).equals(received), `${what}: ${received.subarray(0, 40).toString('latin1')}`).toBe(true);
          outcome = 'passed through';
        }
        const byKind = (outcomes[c.kind] ??= {});
        byKind[outcome] = (byKind[outcome] ?? 0) + 1;
      });
      await healthy();
      await settled(`after visitor batch ${from / BATCH + 1}`);
    }
    report('bad-input:visitors', {
      seed: SEED + 1,
      cases: CASES,
      outcomes,
      logged: { E_INVALID_PROTOCOL: countCode(log, 'E_INVALID_PROTOCOL'), E_SNIFF_TIMEOUT: countCode(log, 'E_SNIFF_TIMEOUT'), E_NO_DEVICE: countCode(log, 'E_NO_DEVICE') },
    });
  });

  it('slowloris: 200 sockets sending one byte then nothing are closed after sniffTimeout; a visitor is served meanwhile', { timeout: 30_000 }, async () => {
    const SNIFF_TIMEOUT = 300;
    const SOCKETS = 200;
    const { relay, log, healthy, settled } = await setup({ sniffTimeout: SNIFF_TIMEOUT });
    const random = prng(SEED + 2);
    // A byte that asks for more: the start of a TLS record, or of an HTTP method.
    const firstBytes = [0x16, 0x47, 0x50, 0x48, 0x44];
    const lingering = Array.from({ length: SOCKETS }, () =>
      visit(relay.addresses.public.port, [Buffer.from([firstBytes[between(random, 0, firstBytes.length - 1)] as number])], false),
    );
    await until(() => resourceCount('TCPSocketWrap') >= 2 + 2 * SOCKETS, 'every slowloris socket to be accepted');
    // While they hang on, the relay serves.
    await healthy();
    const results = await within(Promise.all(lingering), 10_000, 'the relay to close every slowloris socket');
    for (const { received, ms } of results) {
      expect(received.length).toBe(0);
      expect(ms).toBeGreaterThanOrEqual(SNIFF_TIMEOUT * 0.9);
    }
    expect(countCode(log, 'E_SNIFF_TIMEOUT')).toBe(SOCKETS);
    await settled('after the slowloris');
    await healthy();
    const times = results.map((r) => r.ms).sort((a, b) => a - b);
    report('bad-input:slowloris', { sockets: SOCKETS, sniffTimeoutMs: SNIFF_TIMEOUT, closedAfterMs: { min: Math.round(times[0] ?? 0), max: Math.round(times.at(-1) ?? 0) } });
  });
});
