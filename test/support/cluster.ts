/**
 * A real Redis and relay nodes run by the CLI, for the cluster tests. Each test starts its own
 * Redis on a free port; every process is stopped by the test's clean-up (`defer`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { EVENTS_CHANNEL } from '../../src/cluster/keys.js';
import { defer } from './cleanup.js';
import { SECRET } from './servers.js';
import { freePort, freePortWithOffset } from './index.js';

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

// Redis topologies: Sentinels and Redis Clusters of real servers.

/** A temporary directory, removed at clean-up (after the servers that write in it are killed). */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mproxy-redis-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A plain client of one redis-server (or Sentinel), for the test's own questions. */
export function redisClient(port: number, password?: string): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  defer(() => redis.disconnect());
  return redis;
}

/** Resolves once `check()` resolves true, asked again every 20 ms; fails after `timeout` ms. */
export async function eventually(check: () => Promise<boolean>, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/redis-cli', args, { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}: ${stdout}${stderr}`)) : resolve(stdout)));
  });
}

/**
 * A Sentinel (`redis-server FILE --sentinel`) that watches the master on `masterPort` as
 * `mymaster`; with `password`, its clients must give it (`requirepass`).
 */
export async function startSentinel(dir: string, masterPort: number, downAfterMs = 2000, password?: string): Promise<{ port: number; kill(): Promise<void> }> {
  const port = await freePort();
  // A Sentinel rewrites its configuration file as it learns: one file each.
  const config = join(dir, `sentinel-${port}.conf`);
  await writeFile(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds mymaster ${downAfterMs}`,
      `sentinel failover-timeout mymaster ${2 * downAfterMs}`,
      ...(password ? [`requirepass ${password}`] : []),
      '',
    ].join('\n'),
  );
  const sentinel = await runRedisServer([config, '--sentinel'], /\+monitor master mymaster/);
  return { port, kill: sentinel.kill };
}

/** How many connections are subscribed to the announcements on this server. */
export async function subscribed(redis: Redis): Promise<number> {
  const [, count] = (await redis.call('PUBSUB', 'NUMSUB', EVENTS_CHANNEL)) as [string, number];
  return Number(count);
}

export const listening = (port: number): RegExp => new RegExp(`"port":${port}[^\\n]*TCP port listening`);
export const released = (port: number): RegExp => new RegExp(`"port":${port}[^\\n]*TCP port released`);


/**
 * A Redis Cluster of `masters` masters with `replicas` replicas each, in a temporary
 * directory, once every node says `cluster_state:ok`. A node fails over to its replica once
 * its master has been unreachable for `nodeTimeout` ms.
 */
export async function redisCluster(masters: number, replicas: number, nodeTimeout: number): Promise<{ ports: number[]; servers: Map<number, { kill(): Promise<void> }> }> {
  const dir = await tempDir();
  const ports: number[] = [];
  // A cluster node also listens on its port + 10 000 (the cluster bus).
  while (ports.length < masters * (1 + replicas)) {
    const port = await freePortWithOffset(10_000);
    if (ports.every((other) => other !== port && other !== port + 10_000 && other + 10_000 !== port)) ports.push(port);
  }
  const servers = new Map<number, { kill(): Promise<void> }>();
  await Promise.all(
    ports.map(async (port) => {
      servers.set(
        port,
        await runRedisServer([
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--repl-diskless-sync-delay', '0',
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeout),
        ]),
      );
    }),
  );
  await redisCli(['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
  const nodes = ports.map((port) => redisClient(port));
  await eventually(
    async () => (await Promise.all(nodes.map((node) => node.call('CLUSTER', 'INFO')))).every((info) => /cluster_state:ok/.test(String(info))),
    'cluster_state:ok on every node',
    15_000,
  );
  return { ports, servers };
}

/** The port of the master that serves `slot`, as the node on `askPort` sees the cluster. */
export async function masterOf(askPort: number, slot: number): Promise<number | undefined> {
  const ranges = (await redisClient(askPort).call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
  return ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
}
