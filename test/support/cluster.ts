/**
 * A real Redis and relay nodes run by the CLI, for the cluster tests. Each test starts its own
 * Redis on a free port; every process is stopped by the test's clean-up (`defer`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defer } from './cleanup.js';
import { SECRET } from './servers.js';
import { freePort } from './index.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** A redis-server on 127.0.0.1:`port`, throwaway (no persistence). */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty, as after a crash without persistence). */
  restart(): Promise<void>;
}

/** A redis-server process, started with `args`, SIGKILLed at the test's clean-up. */
export interface RedisProcess {
  readonly child: ChildProcess;
  /** SIGKILL, and waits for the exit (nothing if it has exited). */
  kill(): Promise<void>;
}

/**
 * Runs `/usr/bin/redis-server` with `args` and resolves once its log matches `ready` (a
 * Sentinel never says "Ready to accept connections": it logs `+monitor` once it listens).
 */
export async function runRedisServer(args: readonly string[], ready = /Ready to accept connections/): Promise<RedisProcess> {
  const child = spawn('/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  defer(kill);
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server ${args.join(' ')}: not ready within 10 s: ${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!ready.test(output)) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited ${code}: ${output}`));
    });
  });
  return { child, kill };
}

/** A Redis on a free port; with `started: false`, not started yet (`restart()` starts it). */
export async function startRedis(options: { started?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  let running: RedisProcess | undefined;
  const start = async (): Promise<void> => {
    running = await runRedisServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  };
  const kill = async (): Promise<void> => running?.kill();
  if (options.started !== false) await start();
  return { port, url: `redis://127.0.0.1:${port}`, kill, restart: start };
}

/** A relay node run by `mproxy relay --cluster …`, with what its logs said. */
export interface Node {
  readonly id: string;
  readonly child: ChildProcess;
  /** The visitors' port (on 127.0.0.1). */
  readonly publicPort: number;
  /** Where claimed ports listen. */
  readonly portHost: string;
  /** The device endpoint. */
  readonly tunnelUrl: string;
  /** Everything logged so far. */
  output(): string;
  /** Resolves once `pattern` is in the logs (from `from`, an offset into them). */
  waitFor(pattern: RegExp, what: string, timeout?: number, from?: number): Promise<RegExpMatchArray>;
  /** The exit code (or signal) once it exits. */
  readonly exited: Promise<number | string | null>;
}

export async function startNode(
  id: string,
  redis: { url: string },
  options: { portHost?: string; tcpPorts?: string; extra?: string[]; leaseTtl?: string; grace?: string; waitRegistry?: boolean } = {},
): Promise<Node> {
  const portHost = options.portHost ?? '127.0.0.1';
  const args = [
    CLI, 'relay', '--json', '--secret', SECRET,
    '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--port-host', portHost,
    '--cluster', redis.url, '--node-id', id, '--node-listen', '127.0.0.1:0',
    '--lease-ttl', options.leaseTtl ?? '900ms', '--lease-grace', options.grace ?? '0',
    ...(options.tcpPorts ? ['--tcp-ports', options.tcpPorts] : []),
    ...(options.extra ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  const waitFor = (pattern: RegExp, what: string, timeout = 10_000, from = 0): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(output.slice(from));
        if (!match) return;
        cleanup();
        resolve(match);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`node ${id}: timed out waiting for ${what}; its log:\n${output}`));
      }, timeout);
      const gone = (): void => {
        cleanup();
        reject(new Error(`node ${id} exited before ${what}; its log:\n${output}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', gone);
      };
      waiters.add(check);
      child.once('exit', gone);
      check();
    });
  const tunnel = await waitFor(/"url":"(ws:\/\/127\.0\.0\.1:\d+)"[^\n]*device endpoint ready/, 'the device endpoint');
  const visitors = await waitFor(/"address":"127\.0\.0\.1:(\d+)"[^\n]*visitors listener ready/, 'the visitor listener');
  if (options.waitRegistry !== false) await waitFor(/cluster registry connected/, 'the registry');
  return {
    id,
    child,
    publicPort: Number(visitors[1]),
    portHost,
    tunnelUrl: tunnel[1] as string,
    output: () => output,
    waitFor,
    exited,
  };
}
