/**
 * Helpers shared across suites (mostly `test/e2e` and `test/reliability`, which run a relay and
 * devices over real sockets): bounded waits, free ports, servers, certificates, an HTTP request
 * and a WebSocket upgrade by hand, a captured ClientHello, hashes, seeded randomness, and a
 * logger that remembers. Nothing here keeps cleanups of its own: a helper that opens something
 * takes the suite's `defer`.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Logger } from '../../src/index.js';

/** The built CLI. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export { defer, runCleanup, type Defer } from './cleanup.js';
export { SECRET, echoServer, echoVisit, serve, startDevice, startRelay } from './servers.js';

// Waiting, bounded

/**
 * Resolves once `condition()` holds, checked every couple of milliseconds (no fixed sleep);
 * fails after `timeout` ms. For states no event announces (a count in another module, the
 * relay listening on a claimed port).
 */
export async function until(condition: () => boolean, what: string, timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** `promise`, or a failure naming `what` after `limit` ms (a hang). Its timer is cleared. */
export async function within<T>(promise: Promise<T>, limit: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${limit} ms`)), limit);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Sockets

/**
 * The lowest port the kernel hands out for outgoing connections (Linux), or undefined. A port
 * for the relay to claim is picked below it: the suites open thousands of outgoing
 * connections in parallel, and one of those can take a port between the moment it was found
 * free and the moment the relay listens on it.
 */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined;
  }
}

/** Binds `port` (0: any) on 127.0.0.1 and releases it; the port bound, or undefined if taken. */
async function tryBind(kind: 'tcp' | 'udp', port: number): Promise<number | undefined> {
  if (kind === 'tcp') {
    const server = net.createServer();
    // One promise for both outcomes: events.once('listening') rejects on 'error', so a race of
    // it with once('error') could throw EADDRINUSE at the caller instead of saying "taken".
    const outcome = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!outcome) return undefined;
    const bound = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return bound;
  }
  const socket = createSocket('udp4');
  const outcome = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => resolve(true));
  });
  if (!outcome) {
    socket.close();
    return undefined;
  }
  const bound = socket.address().port;
  await new Promise<void>((resolve) => socket.close(resolve));
  return bound;
}

/**
 * A port free now on 127.0.0.1 (TCP or UDP), for the relay to claim: below the ephemeral
 * range when the system says where that is (see ephemeralLow), so that no outgoing connection
 * of a test running alongside can take it meanwhile.
 */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  const low = ephemeralLow();
  if (low !== undefined && low > 12_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await tryBind(kind, 10_000 + Math.floor(Math.random() * (low - 10_000)));
      if (port !== undefined) return port;
    }
  }
  const port = await tryBind(kind, 0);
  if (port === undefined) throw new Error(`no free ${kind} port on 127.0.0.1`);
  return port;
}

/**
 * A TCP port free now on 127.0.0.1 whose `port + offset` is free too, both below the ephemeral
 * range when the system says where that is (see freePort): a Redis Cluster node listens on its
 * port and on port + 10 000 for its bus.
 */
export async function freePortWithOffset(offset: number): Promise<number> {
  const low = ephemeralLow();
  // With the ephemeral range too low to leave room, any pair of free ports has to do.
  const top = (low !== undefined && low > 11_000 + offset ? low : 65_536) - offset;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    if ((await tryBind('tcp', port)) !== undefined && (await tryBind('tcp', port + offset)) !== undefined) return port;
  }
  throw new Error(`no free TCP port p with p + ${offset} free too on 127.0.0.1`);
}

/** What {@link runCli} saw of one run of the CLI. */
export interface CliRun {
  /** The exit code; -1 when the run was stopped (its time ran out) rather than exited. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where and with what {@link runCli} runs the CLI. */
export interface CliRunOptions {
  readonly cwd?: string;
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to its stdin, which is then closed (closed at once without). */
  readonly stdin?: Uint8Array;
  /** Stopped (SIGTERM) after this long; 20 s unless given. */
  readonly timeoutMs?: number;
}

/** Runs the built CLI (`dist/cli.js`) once, to its exit. */
export function runCli(args: readonly string[], { cwd, env, stdin, timeoutMs = 20_000 }: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI_PATH, ...args],
      { timeout: timeoutMs, cwd, env: env ? { ...process.env, ...env } : process.env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/**
 * The keys that an object of a JSON text repeats, at any depth (`JSON.parse` keeps the last of
 * two and says nothing). Each as `path.key`; none for a text without repeats.
 */
export function repeatedJsonKeys(text: string): string[] {
  const repeated: string[] = [];
  // One entry per open object or array: its path and, for an object, the keys seen so far.
  const open: { path: string; keys?: Set<string> }[] = [];
  let expectKey = false;
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const value = JSON.parse(text.slice(i, end + 1)) as string;
      const top = open.at(-1);
      if (expectKey && top?.keys) {
        if (top.keys.has(value)) repeated.push(`${top.path}${value}`);
        top.keys.add(value);
        lastKey = value;
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      const parent = open.at(-1);
      const path = parent ? `${parent.path}${parent.keys ? lastKey : '[]'}.` : '';
      open.push(c === '{' ? { path, keys: new Set() } : { path });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectKey = open.at(-1)?.keys !== undefined;
    }
  }
  return repeated;
}

/** Every JSON line of a process's logs names each key once (see {@link repeatedJsonKeys}). */
export function expectUniqueLogKeys(logs: string): void {
  for (const line of logs.split('\n')) if (line.startsWith('{')) expect(repeatedJsonKeys(line), line).toEqual([]);
}

/**
 * A run that failed as the CLI fails: exit code 1 and one line on stderr, `mproxy: <message>
 * (<CODE>)`, nothing before it and no stack trace.
 */
export function expectOneLineError(result: CliRun, code: string): void {
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^mproxy: [^\\n]+ \\(${code}\\)\\n$`));
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** Sends one HTTP/1.1 request for `/` with `Host: host` and resolves with all that came back. */
export function httpGet(port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

/**
 * Listens on 127.0.0.1 (`port`, or any free one) and hands `defer` the close, which also
 * drops an HTTP server's open connections. Resolves with the port.
 */
export async function listen(server: net.Server | HttpServer, defer: (cleanup: () => Promise<void>) => void, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        (server as HttpServer).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** What the tunnel endpoint at `url` answered to an upgrade with this token: 'open', or the refusal. */
export function tryUpgrade(url: string, token: string): Promise<{ status: number; body: { message?: unknown; code?: unknown } } | 'open'> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    target.searchParams.set('access_token', token);
    const ws = new WebSocket(target, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    ws.on('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        ws.terminate();
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as { message?: unknown; code?: unknown } });
        } catch (error) {
          reject(new Error(`not JSON: ${text}`, { cause: error }));
        }
      });
    });
  });
}

/** The ClientHello a real TLS client sends for `servername`, captured from a TCP server. */
export async function captureClientHello(servername: string): Promise<Buffer> {
  const server = net.createServer();
  const hello = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          resolve(all.subarray(0, 5 + all.readUInt16BE(3)));
          socket.destroy();
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, rejectUnauthorized: false });
  client.on('error', () => undefined);
  const bytes = await hello;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bytes;
}

export { selfSignedCertificate } from './certificate.mjs';

// Randomness

/** mulberry32: a small, fast, seeded PRNG, for reproducible random data and cuts. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` cut at the given positions (each taken modulo length + 1, sorted): views, in order. */
export function cutUp(bytes: Uint8Array, seeds: readonly number[]): Uint8Array[] {
  const cuts = seeds.map((s) => s % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// Logs

export interface LogEntry {
  readonly level: string;
  readonly context: Record<string, unknown>;
  readonly message: string;
}

/** A pino-like logger that remembers what it was told, so that a test can look for a code. */
export function memoryLogger(entries: LogEntry[] = [], bindings: Record<string, unknown> = {}): Logger & { entries: LogEntry[] } {
  const at =
    (level: string) =>
    (first: object | string, message?: string): void => {
      if (typeof first === 'string') entries.push({ level, context: { ...bindings }, message: first });
      else entries.push({ level, context: { ...bindings, ...(first as Record<string, unknown>) }, message: message ?? '' });
    };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => memoryLogger(entries, { ...bindings, ...more }),
  };
}

/** How many entries carry `code`. */
export function countCode(log: { entries: LogEntry[] }, code: string): number {
  return log.entries.filter((entry) => entry.context['code'] === code).length;
}

/** Stops a child process as Ctrl-C does (SIGINT) and waits for it to exit; nothing if it has. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}
