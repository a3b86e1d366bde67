/**
 * The relay cluster on the two Redis topologies its `--cluster` URL takes besides one Redis: a
 * master behind Sentinels (`redis+sentinel://HOST:PORT,HOST:PORT/MASTER`) and a Redis Cluster
 * of three masters (`redis+cluster://HOST:PORT,HOST:PORT`), all real redis-server processes.
 * Three CLI nodes on each; a device on B is reached through A, bytes hash-checked; the status
 * (what `mproxy cluster status` prints) is read through the same URL; claims and releases are
 * announced to the other nodes over pub/sub. And a Sentinel failover: the master killed, its
 * replica promoted, the names served throughout and claims announced through the new master.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL, leaseKey } from '../../src/cluster/keys.js';
import { readClusterStatus } from '../../src/cluster/status.js';
import { issueToken } from '../../src/index.js';
import { runRedisServer, startNode, startRedis, type Node } from '../support/cluster.js';
import { defer, freePortWithOffset, SECRET } from '../support/index.js';
import { clusterToken, deviceOn, forwardsFor, freePort, httpPost, randomBytes, services, sha, tcpEcho, tlsEcho } from './helpers.js';

/** A temporary directory, removed at clean-up (after the servers that write in it are killed). */
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mproxy-topologies-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A plain client of one redis-server (or Sentinel), for the test's own questions. */
function client(port: number, password?: string): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  defer(() => redis.disconnect());
  return redis;
}

/** Resolves once `check()` resolves true, asked again every 20 ms; fails after `timeout` ms. */
async function eventually(check: () => Promise<boolean>, what: string, timeout = 10_000): Promise<void> {
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

function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/redis-cli', args, { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}: ${stdout}${stderr}`)) : resolve(stdout)));
  });
}

/**
 * A Sentinel (`redis-server FILE --sentinel`) that watches the master on `masterPort` as
 * `mymaster`; with `password`, its clients must give it (`requirepass`).
 */
async function startSentinel(dir: string, masterPort: number, downAfterMs = 2000, password?: string): Promise<{ port: number; kill(): Promise<void> }> {
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
async function subscribed(redis: Redis): Promise<number> {
  const [, count] = (await redis.call('PUBSUB', 'NUMSUB', EVENTS_CHANNEL)) as [string, number];
  return Number(count);
}

const listening = (port: number): RegExp => new RegExp(`"port":${port}[^\\n]*TCP port listening`);
const released = (port: number): RegExp => new RegExp(`"port":${port}[^\\n]*TCP port released`);

/**
 * Three nodes on `url`; a device on B; visitors through A by TCP port, HTTP Host and TLS SNI;
 * the status as the CLI reads it; then a second device's claim and release, which A and C can
 * only learn from the announcements. `subscribers()` counts the nodes' subscriptions to them.
 */
async function carriesVisitors(url: string, subscribers: () => Promise<number>): Promise<{ port: number; port2: number }> {
  const port = await freePort();
  let port2 = await freePort();
  while (port2 === port) port2 = await freePort();
  // A lease TTL of 60 s puts each node's next read of the whole table 20 s after its start, past
  // the end of this test: what A and C learn after the start, they learn from announcements.
  const [a, b, c] = (await Promise.all(
    ['a', 'b', 'c'].map((id, i) => startNode(id, { url }, { portHost: `127.0.0.${i + 1}`, tcpPorts: `${port},${port2}`, leaseTtl: '60s' })),
  )) as [Node, Node, Node];
  await eventually(async () => (await subscribers()) === 3, "the three nodes' subscriptions to the announcements");

  const local = await services();
  await deviceOn(b.tunnelUrl, await clusterToken(port), forwardsFor(local, port));
  await Promise.all([a, b, c].map((node) => node.waitFor(listening(port), 'the claimed port', 5_000)));

  const data = randomBytes(256 * 1024);
  expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
  expect(await httpPost(a.publicPort, 'web.localhost', data)).toBe(`web.localhost ${sha(data)}`);
  expect(await tlsEcho(a.publicPort, 'app.localhost', data)).toBe(sha(data));
  expect(a.output().match(/node-to-node link up/g)).toHaveLength(1);

  const status = await readClusterStatus(url);
  expect(status.nodes.map((node) => node.id)).toEqual(['a', 'b', 'c']);
  expect(status.leases.map((lease) => [lease.kind, lease.what, lease.node, lease.state])).toEqual([
    ['name', 'app.localhost', 'b', 'live'],
    ['name', 'web.localhost', 'b', 'live'],
    ['tcp', String(port), 'b', 'live'],
  ]);

  // The nodes' start-up reads are long over by now: A and C hear of this claim and of its
  // release only through pub/sub, well within the 5 s waited (their next read is 20 s away).
  const second = await deviceOn(b.tunnelUrl, await issueToken(SECRET, { ports: [port2], sub: 'device-2' }), [`tcp:${port2}=127.0.0.1:${local.tcp}`]);
  await Promise.all([a, c].map((node) => node.waitFor(listening(port2), 'the second claim, announced', 5_000)));
  expect(await tcpEcho(a.portHost, port2, data)).toBe(sha(data));
  const marks = [a, c].map((node) => node.output().length);
  await second.close();
  await Promise.all([a, c].map((node, i) => node.waitFor(released(port2), 'the release, announced', 5_000, marks[i])));
  return { port, port2 };
}

describe('a relay cluster on Redis Sentinel and on Redis Cluster', () => {
  it('redis+sentinel://: two Sentinels, the first one down, the other with a password of its own; nodes find the master through it; visitors through A reach the device on B; status and announcements work', async () => {
    const dir = await tempDir();
    const master = await startRedis();
    const password = 'sentinel+pass&word';
    const [down, up] = [await startSentinel(dir, master.port), await startSentinel(dir, master.port, 2000, password)];
    expect(await client(up.port, password).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')).toEqual(['127.0.0.1', String(master.port)]);
    // Without the password, the Sentinel answers nothing but NOAUTH.
    await expect(client(up.port).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')).rejects.toThrow(/NOAUTH/);
    // The first Sentinel of the list is gone: the nodes and the status go on to the next.
    await down.kill();

    const onMaster = client(master.port);
    const url = `redis+sentinel://127.0.0.1:${down.port},127.0.0.1:${up.port}/mymaster?sentinelPassword=${encodeURIComponent(password)}`;
    await carriesVisitors(url, () => subscribed(onMaster));
  });

  it('redis+sentinel://, failover: the master dies, the Sentinel promotes its replica; the names held are served throughout, renewed on the new master, and claims and announcements go on through it', async () => {
    const dir = await tempDir();
    // Both in the test's directory (a replica writes what it is sent at its sync to its dump
    // file), and a sync that starts at once (Redis 7 waits 5 s for more replicas by default).
    const redis = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--repl-diskless-sync-delay', '0'];
    const masterPort = await freePort();
    const master = await runRedisServer(['--port', String(masterPort), ...redis]);
    let replicaPort = await freePort();
    while (replicaPort === masterPort) replicaPort = await freePort();
    await runRedisServer(['--port', String(replicaPort), ...redis, '--replicaof', '127.0.0.1', String(masterPort)]);
    const replica = client(replicaPort);
    await eventually(async () => /master_link_status:up/.test(String(await replica.info('replication'))), 'the replica in sync');
    const sentinel = await startSentinel(dir, masterPort, 1000);
    const asked = client(sentinel.port);
    // The Sentinel learns of the replica from the master's INFO, which it asks at start.
    await eventually(async () => ((await asked.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[]).length === 1, 'the Sentinel to know the replica', 15_000);

    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`;
    const port = await freePort();
    let port2 = await freePort();
    while (port2 === port) port2 = await freePort();
    // Leases of 60 s: none lapses during the failover, and a node's heartbeat (which renews its
    // leases and reads the whole table) runs at its start, when it finds Redis again, and 20 s
    // later, past the end of this test. What A learns in between, it learns from announcements.
    const [a, b] = (await Promise.all(
      ['a', 'b'].map((id, i) => startNode(id, { url }, { portHost: `127.0.0.${i + 1}`, tcpPorts: `${port},${port2}`, leaseTtl: '60s' })),
    )) as [Node, Node];
    const local = await services();
    await deviceOn(b.tunnelUrl, await clusterToken(port), forwardsFor(local, port));
    await a.waitFor(listening(port), 'the claimed port', 5_000);
    const data = randomBytes(64 * 1024);
    expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
    const onMaster = client(masterPort);
    await eventually(async () => Number(await onMaster.call('WAIT', '1', '1000')) === 1, "the replica to have the master's writes");
    const lease = leaseKey(`tcp:${port}`);
    const ttlBefore = await onMaster.pttl(lease);
    const epochBefore = (JSON.parse((await onMaster.get(lease)) ?? '{}') as { epoch?: number }).epoch;
    expect(epochBefore).toBeGreaterThan(0);

    const marks = [a, b].map((node) => node.output().length);
    await master.kill();
    // Served while Redis has no master, then after the promotion.
    expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
    expect(await httpPost(a.publicPort, 'web.localhost', data)).toBe(`web.localhost ${sha(data)}`);
    await eventually(
      async () => ((await asked.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[])[1] === String(replicaPort),
      'the Sentinel to promote the replica',
      15_000,
    );
    expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
    // Both nodes lose the registry and find it again through the Sentinel.
    await Promise.all([a, b].map((node, i) => node.waitFor(/cluster registry unreachable[^]*cluster registry connected/, 'the registry found again', 15_000, marks[i])));
    // B renews its lease on the new master, under the same epoch: its TTL is back above what
    // it was before the kill. (A new client: the Sentinel closed every client of the replica
    // as it promoted it.)
    const newMaster = client(replicaPort);
    await eventually(async () => (await newMaster.pttl(lease)) > ttlBefore, 'the lease renewed on the new master', 10_000);
    expect((JSON.parse((await newMaster.get(lease)) ?? '{}') as { epoch?: number }).epoch).toBe(epochBefore);

    // A claim made now is written to the new master, and A hears of it, then of its release,
    // over its subscription there (its next read of the table is 20 s away).
    const second = await deviceOn(b.tunnelUrl, await issueToken(SECRET, { ports: [port2], sub: 'device-2' }), [`tcp:${port2}=127.0.0.1:${local.tcp}`]);
    await a.waitFor(listening(port2), 'the claim made after the failover, announced', 5_000, marks[0]);
    expect(await tcpEcho(a.portHost, port2, data)).toBe(sha(data));
    const beforeRelease = a.output().length;
    await second.close();
    await a.waitFor(released(port2), 'the release, announced', 5_000, beforeRelease);
    const status = await readClusterStatus(url);
    const held = status.leases.filter((entry) => entry.node === 'b' && entry.state === 'live').map((entry) => `${entry.kind} ${entry.what}`);
    expect(held).toEqual(expect.arrayContaining(['name app.localhost', 'name web.localhost', `tcp ${port}`]));
    // Nobody gave a name up on the way.
    for (const [i, node] of [a, b].entries()) {
      const since = node.output().slice(marks[i]);
      expect(since).not.toMatch(released(port));
      expect(since).not.toMatch(/lease taken again|lease lost/);
    }
  });

  it('redis+cluster://: three masters; visitors through A reach the device on B; the scripts run in one slot; status and announcements work', async () => {
    const dir = await tempDir();
    const ports: number[] = [];
    // A cluster node also listens on its port + 10 000 (the cluster bus).
    while (ports.length < 3) {
      const port = await freePortWithOffset(10_000);
      if (ports.every((other) => other !== port && other !== port + 10_000 && other + 10_000 !== port)) ports.push(port);
    }
    await Promise.all(
      ports.map((port) =>
        runRedisServer([
          '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
        ]),
      ),
    );
    await redisCli(['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const nodes = ports.map((port) => client(port));
    await eventually(
      async () => (await Promise.all(nodes.map((node) => node.call('CLUSTER', 'INFO')))).every((info) => /cluster_state:ok/.test(String(info))),
      'cluster_state:ok on every node',
    );

    // The scripts publish on the node that owns the registry's slot. A listener of our own on
    // another node hears them only if the cluster bus carries them there, which the nodes'
    // subscribers (each on a node ioredis picks at random) may or may not need in a given run.
    const slot = Number(await nodes[0]!.call('CLUSTER', 'KEYSLOT', EVENTS_CHANNEL));
    const ranges = (await nodes[0]!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
    const owner = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
    expect(owner).toBeDefined();
    const listener = client(ports.find((port) => port !== owner)!);
    const heard: { t: string; k: string; node: string }[] = [];
    listener.on('message', (_channel: string, message: string) => heard.push(JSON.parse(message) as { t: string; k: string; node: string }));
    await listener.subscribe(EVENTS_CHANNEL);

    const url = `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    // Our listener is one of the subscriptions counted.
    const { port, port2 } = await carriesVisitors(url, async () => (await Promise.all(nodes.map(subscribed))).reduce((sum, count) => sum + count, 0) - 1);
    const announced = ['claim name:app.localhost', 'claim name:web.localhost', `claim tcp:${port}`, `claim tcp:${port2}`, `release tcp:${port2}`];
    const fromB = (): string[] => heard.filter((event) => event.node === 'b').map((event) => `${event.t} ${event.k}`);
    // The relay nodes' subscribers may sit nearer the publisher than ours: the last may still be on its way.
    await eventually(async () => announced.every((event) => fromB().includes(event)), "B's announcements, on another node", 5_000).catch(() => undefined);
    expect(fromB()).toEqual(expect.arrayContaining(announced));

    // Every key the registry wrote is in one slot, on one of the three masters.
    const keys = (await Promise.all(nodes.map((node) => node.call('KEYS', 'mproxy:*') as Promise<string[]>))).filter((found) => found.length > 0);
    expect(keys).toHaveLength(1);
    const slots = new Set(await Promise.all(keys[0]!.map((key) => nodes[0]!.call('CLUSTER', 'KEYSLOT', key))));
    expect(slots.size).toBe(1);
  });
});
