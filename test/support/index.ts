/**
 * Helpers shared by the suites that run a relay and devices over real sockets (`test/e2e`,
 * `test/reliability`): bounded waits, free ports, an HTTP request by hand, hashes, and a
 * logger that remembers. Nothing here registers cleanups: each suite keeps its own.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import type { Logger } from '../../src/index.js';

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

/** A port free now on 127.0.0.1 (TCP or UDP), for the relay to claim. */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'tcp') {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
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
