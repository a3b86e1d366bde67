/**
 * The relay cluster on the two Redis topologies its `--cluster` URL takes besides one Redis: a
 * master behind Sentinels (`redis+sentinel://HOST:PORT,HOST:PORT/MASTER`) and a Redis Cluster
 * of three masters (`redis+cluster://HOST:PORT,HOST:PORT`), all real redis-server processes.
 * Three CLI nodes on each; a device on B is reached through A, bytes hash-checked; the status
 * (what `mproxy cluster status` prints) is read through the same URL; claims and releases are
 * announced to the other nodes over pub/sub. Failovers: failover.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL } from '../../src/cluster/keys.js';
import { readClusterStatus } from '../../src/cluster/status.js';
import { issueToken } from '../../src/index.js';
import { eventually, listening, redisCluster, redisClient, released, startNode, startRedis, startSentinel, subscribed, tempDir, type Node } from '../support/cluster.js';
import { SECRET } from '../support/index.js';
import { clusterToken, deviceOn, forwardsFor, freePort, httpPost, randomBytes, services, sha, tcpEcho, tlsEcho } from './helpers.js';

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
    expect(await redisClient(up.port, password).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')).toEqual(['127.0.0.1', String(master.port)]);
    // Without the password, the Sentinel answers nothing but NOAUTH.
    await expect(redisClient(up.port).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')).rejects.toThrow(/NOAUTH/);
    // The first Sentinel of the list is gone: the nodes and the status go on to the next.
    await down.kill();

    const onMaster = redisClient(master.port);
    const url = `redis+sentinel://127.0.0.1:${down.port},127.0.0.1:${up.port}/mymaster?sentinelPassword=${encodeURIComponent(password)}`;
    await carriesVisitors(url, () => subscribed(onMaster));
  });

  it('redis+cluster://: three masters; visitors through A reach the device on B; the scripts run in one slot; status and announcements work', async () => {
    const { ports } = await redisCluster(3, 0, 2000);
    const nodes = ports.map((port) => redisClient(port));

    // The scripts publish on the node that owns the registry's slot. A listener of our own on
    // another node hears them only if the cluster bus carries them there, which the nodes'
    // subscribers (each on a node ioredis picks at random) may or may not need in a given run.
    const slot = Number(await nodes[0]!.call('CLUSTER', 'KEYSLOT', EVENTS_CHANNEL));
    const ranges = (await nodes[0]!.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
    const owner = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
    expect(owner).toBeDefined();
    const listener = redisClient(ports.find((port) => port !== owner)!);
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
