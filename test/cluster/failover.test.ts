/**
 * Failovers of the Redis under a relay cluster, real servers all: a Sentinel promoting a
 * replica when the master is killed, and a Redis Cluster replica taking over the slot of the
 * registry when its master is killed. Two CLI nodes and a device on B: visitors through A are
 * served throughout, B's lease is renewed on the new master under the same epoch, and a claim
 * made after the failover (and its release) reaches A, announced over pub/sub. A node's
 * heartbeat (which renews its leases and reads the whole table) runs at its start, when it
 * finds Redis again, and every third of the lease TTL; the leases are long enough for none to
 * lapse during a failover.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL, PREFIX, leaseKey } from '../../src/cluster/keys.js';
import { readClusterStatus } from '../../src/cluster/status.js';
import { issueToken } from '../../src/index.js';
import { eventually, listening, masterOf, redisCluster, redisClient, released, runRedisServer, startNode, startSentinel, subscribed, tempDir, type Node } from '../support/cluster.js';
import { SECRET } from '../support/index.js';
import { clusterToken, deviceOn, forwardsFor, freePort, httpPost, randomBytes, services, sha, tcpEcho } from './helpers.js';

/** Nodes A and B, a device on B holding a TCP port and two names, and B's lease of the port as the master holds it. */
interface HeldOnB {
  readonly a: Node;
  readonly b: Node;
  readonly local: Awaited<ReturnType<typeof services>>;
  readonly port: number;
  readonly port2: number;
  readonly data: Buffer;
  readonly lease: string;
  readonly ttlBefore: number;
  readonly epochBefore: number | undefined;
}

/**
 * Starts A and B on `url` with leases of `leaseTtl`, a device on B, and checks a visitor through
 * A; then reads B's lease on `onMaster` once a replica has the master's writes.
 */
async function heldOnB(url: string, leaseTtl: string, onMaster: Redis): Promise<HeldOnB> {
  const port = await freePort();
  let port2 = await freePort();
  while (port2 === port) port2 = await freePort();
  const [a, b] = (await Promise.all(
    ['a', 'b'].map((id, i) => startNode(id, { url }, { portHost: `127.0.0.${i + 1}`, tcpPorts: `${port},${port2}`, leaseTtl })),
  )) as [Node, Node];
  const local = await services();
  await deviceOn(b.tunnelUrl, await clusterToken(port), forwardsFor(local, port));
  await a.waitFor(listening(port), 'the claimed port', 5_000);
  const data = randomBytes(64 * 1024);
  expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
  const lease = leaseKey(`tcp:${port}`);
  const leases = [lease, leaseKey('name:app.localhost'), leaseKey('name:web.localhost')];
  await eventually(async () => (await onMaster.exists(...leases)) === leases.length, 'the leases on the master');
  // WAIT counts the replicas that have this client's own writes: a write of its own, after the
  // leases in the master's stream, so that a replica that has it has them too.
  const fence = `${PREFIX}test-fence`;
  await onMaster.set(fence, String(Date.now()));
  await eventually(async () => Number(await onMaster.call('WAIT', '1', '1000')) === 1, "the replica to have the master's writes");
  const ttlBefore = await onMaster.pttl(lease);
  const epochBefore = epochOf(await onMaster.get(lease));
  expect(epochBefore).toBeGreaterThan(0);
  return { a, b, local, port, port2, data, lease, ttlBefore, epochBefore };
}

const epochOf = (value: string | null): number | undefined => (JSON.parse(value ?? '{}') as { epoch?: number }).epoch;

/** B's lease, renewed on the new master under the same epoch: its TTL is back above what it was before the kill. */
async function expectRenewed(held: HeldOnB, newMaster: Redis, timeout: number): Promise<void> {
  await eventually(async () => (await newMaster.pttl(held.lease)) > held.ttlBefore, 'the lease renewed on the new master', timeout);
  expect(epochOf(await newMaster.get(held.lease))).toBe(held.epochBefore);
}

/**
 * A second device's claim on B, made after the failover: A serves its port, then hears of its
 * release. `marks` are the nodes' log lengths at the kill.
 */
async function claimAndRelease(held: HeldOnB, marks: readonly number[], what: string, timeout: number): Promise<void> {
  const { a, b, local, port2, data } = held;
  const second = await deviceOn(b.tunnelUrl, await issueToken(SECRET, { ports: [port2], sub: 'device-2' }), [`tcp:${port2}=127.0.0.1:${local.tcp}`]);
  await a.waitFor(listening(port2), `the claim made after the failover${what}`, timeout, marks[0]);
  expect(await tcpEcho(a.portHost, port2, data)).toBe(sha(data));
  const beforeRelease = a.output().length;
  await second.close();
  await a.waitFor(released(port2), `the release${what}`, timeout, beforeRelease);
}

/** Nobody gave a name up since the kill (`marks`: the nodes' log lengths then). */
function expectNothingGivenUp(held: HeldOnB, marks: readonly number[]): void {
  for (const [i, node] of [held.a, held.b].entries()) {
    const since = node.output().slice(marks[i]);
    expect(since).not.toMatch(released(held.port));
    expect(since).not.toMatch(/lease taken again|lease lost/);
  }
}

describe('a relay cluster through a failover of its Redis', () => {
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
    const replica = redisClient(replicaPort);
    await eventually(async () => /master_link_status:up/.test(String(await replica.info('replication'))), 'the replica in sync');
    const sentinel = await startSentinel(dir, masterPort, 1000);
    const asked = redisClient(sentinel.port);
    // The Sentinel learns of the replica from the master's INFO, which it asks at start.
    await eventually(async () => ((await asked.call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[]).length === 1, 'the Sentinel to know the replica', 15_000);

    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`;
    // Leases of 60 s: none lapses during the failover, and a node's heartbeat (which renews its
    // leases and reads the whole table) runs at its start, when it finds Redis again, and 20 s
    // later, past the end of this test. What A learns in between, it learns from announcements.
    const held = await heldOnB(url, '60s', redisClient(masterPort));
    const { a, b, port, data } = held;

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
    // B renews its lease on the new master (a new client: the Sentinel closed every client of
    // the replica as it promoted it).
    await expectRenewed(held, redisClient(replicaPort), 10_000);

    // A claim made now is written to the new master, and A hears of it, then of its release,
    // over its subscription there (its next read of the table is 20 s away).
    await claimAndRelease(held, marks, ', announced', 5_000);
    const status = await readClusterStatus(url);
    const holding = status.leases.filter((entry) => entry.node === 'b' && entry.state === 'live').map((entry) => `${entry.kind} ${entry.what}`);
    expect(holding).toEqual(expect.arrayContaining(['name app.localhost', 'name web.localhost', `tcp ${port}`]));
    // Nobody gave a name up on the way.
    expectNothingGivenUp(held, marks);
  });

  it('redis+cluster://, failover: the master of the registry\'s slot dies, its replica takes over; the names held are served throughout, renewed on the new master, and claims and announcements go on through it', async () => {
    const { ports, servers } = await redisCluster(3, 1, 1000);
    const slot = Number(await redisClient(ports[0]!).call('CLUSTER', 'KEYSLOT', EVENTS_CHANNEL));
    const owner = (await masterOf(ports[0]!, slot)) as number;
    const survivor = ports.find((port) => port !== owner) as number;
    // The replica of the slot's master: the node whose CLUSTER NODES line says it follows it,
    // once the master has heard of it (replicas join after the cluster says it is ok).
    const onOwner = redisClient(owner);
    const ownerId = String(await onOwner.call('CLUSTER', 'MYID'));
    let replicaPort = Number.NaN;
    await eventually(async () => {
      const line = String(await onOwner.call('CLUSTER', 'NODES'))
        .split('\n')
        .find((entry) => entry.split(' ')[3] === ownerId);
      replicaPort = Number(/:(\d+)@/.exec(line ?? '')?.[1]);
      return replicaPort > 0;
    }, "the replica of the registry slot's master", 15_000);

    const url = `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
    // Leases of 30 s: the slot's master goes away without the cluster client as a whole going
    // down, so B renews on the new master at its next heartbeat (10 s after its start), not at
    // a reconnection. A's reads of the table run as often: that A still hears announcements is
    // seen from its subscription, counted on the surviving nodes.
    const held = await heldOnB(url, '30s', onOwner);
    const { a, b, port, port2, data } = held;
    const survivors = (): number[] => ports.filter((p) => p !== owner);
    const subscriptions = async (): Promise<number> => (await Promise.all(survivors().map((p) => subscribed(redisClient(p))))).reduce((sum, n) => sum + n, 0);

    const marks = [a, b].map((node) => node.output().length);
    await servers.get(owner)?.kill();
    // Served while the slot has no master, then after the replica took over.
    expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
    expect(await httpPost(a.publicPort, 'web.localhost', data)).toBe(`web.localhost ${sha(data)}`);
    await eventually(async () => (await masterOf(survivor, slot)) === replicaPort, 'the replica to take the slot over', 15_000);
    expect(await tcpEcho(a.portHost, port, data)).toBe(sha(data));
    // At a heartbeat of B's (every 10 s; one that falls while the slot has no master fails):
    // what matters is that it comes before the 30 s lease lapses.
    await expectRenewed(held, redisClient(replicaPort), 25_000);
    // Both nodes are subscribed to the announcements again, on nodes that are alive.
    await eventually(async () => (await subscriptions()) === 2, "both nodes' subscriptions to the announcements, after the failover", 15_000);

    // A claim made now is announced through the new master (a listener of our own on another
    // node hears it over the cluster bus), and A serves it; then its release.
    const listener = redisClient(survivors().find((p) => p !== replicaPort) as number);
    const heard: string[] = [];
    listener.on('message', (_channel: string, message: string) => {
      const event = JSON.parse(message) as { t: string; k: string; node: string };
      heard.push(`${event.node} ${event.t} ${event.k}`);
    });
    await listener.subscribe(EVENTS_CHANNEL);
    await claimAndRelease(held, marks, '', 15_000);
    await eventually(async () => heard.includes(`b release tcp:${port2}`), 'the release, announced', 5_000);
    expect(heard).toEqual(expect.arrayContaining([`b claim tcp:${port2}`, `b release tcp:${port2}`]));
    expectNothingGivenUp(held, marks);
  });
});
