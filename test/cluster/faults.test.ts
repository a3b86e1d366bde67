/**
 * A relay cluster when things fail: Redis dies and comes back, a device drops and returns
 * within the lease grace, a node dies under a device connected to two nodes, a node drains.
 * Every wait is on a condition; lease TTL and grace are short flags.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { leaseKey, nodeKey } from '../../src/cluster/keys.js';
import { issueToken } from '../../src/index.js';
import { CLI, eventually, startNode, startRedis, type Node } from '../support/cluster.js';
import { defer, expectUniqueLogKeys, listen, SECRET, stopChild, until } from '../support/index.js';
import { deviceOn, httpPost, randomBytes, sha, tcpEcho, freePort } from './helpers.js';

/** An HTTP service answering `label`. */
async function labelled(label: string): Promise<number> {
  return listen(
    createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(label));
    }),
    defer,
  );
}

/** What a visitor for web.localhost on `node` gets now (a body, or the error). */
async function visit(node: Node): Promise<string> {
  return httpPost(node.publicPort, 'web.localhost', Buffer.from('hi')).catch((error: Error) => `error: ${error.message}`);
}

/** Resolves once visits to `node` answer `label`. */
async function untilServed(node: Node, label: string, timeout = 8_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = await visit(node);
    if (last === label) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`node ${node.id} never answered ${label}; last: ${last}`);
}

const web = (port: number): string[] => [`http:web.localhost=127.0.0.1:${port}`];

describe('a relay cluster, when things fail', () => {
  it('goes on serving what it holds while Redis is down; leases come back and waiting claims go through when it returns', async () => {
    // Redis not there yet: the node starts all the same, says so once, and joins when it comes.
    const redis = await startRedis({ started: false });
    const early = await startNode('a', redis, { extra: ['--node-tls'], waitRegistry: false });
    await early.waitFor(/"code":"E_REDIS_UNAVAILABLE"[^\n]*no names are served until it answers/, 'Redis unreachable at start');
    await redis.restart();
    await early.waitFor(/cluster registry connected/, 'the registry, once Redis is up');
    // Node-to-node over TLS (a certificate the CLI makes; the secret authenticates).
    const [a, b] = [early, await startNode('b', redis, { extra: ['--node-tls'] })];
    await deviceOn(b.tunnelUrl, await issueToken(SECRET, { domains: ['web.localhost'], sub: 'one' }), web(await labelled('one')));
    await untilServed(a, 'one');
    expect(a.output()).toMatch(/"tls":true[^\n]*cluster node endpoint ready/);

    const mark = a.output().length;
    await redis.kill();
    await a.waitFor(/"code":"E_REDIS_UNAVAILABLE"/, 'Redis down, on a', 10_000, mark);
    // Held names are served where they are held, and forwarded to from the other node.
    expect(await visit(b)).toBe('one');
    expect(await visit(a)).toBe('one');
    // A claim while Redis is down waits.
    await deviceOn(a.tunnelUrl, await issueToken(SECRET, { domains: ['other.localhost'], sub: 'two' }), [`http:other.localhost=127.0.0.1:${await labelled('two')}`]);
    expect(await httpPost(b.publicPort, 'other.localhost', Buffer.from('x'))).toContain('No device serves');

    await redis.restart();
    await b.waitFor(/lease taken again after it lapsed/, 'b taking its lease back', 10_000);
    await until(() => /"lease":"name:other\.localhost"[^\n]*lease held/.test(a.output()), 'the waiting claim', 10_000);
    await untilServed(a, 'one');
    const deadline = Date.now() + 5_000;
    while ((await httpPost(b.publicPort, 'other.localhost', Buffer.from('x'))) !== 'two' && Date.now() < deadline);
    expect(await httpPost(b.publicPort, 'other.localhost', Buffer.from('x'))).toBe('two');
    // Once per state change (at start, and when it died), not once per retry.
    expect(a.output().match(/E_REDIS_UNAVAILABLE/g)).toHaveLength(2);
  });

  it('keeps a second node given a --node-id that is taken out of the cluster, saying so once, until the id is free', async () => {
    const redis = await startRedis();
    const first = await startNode('b', redis, { portHost: '127.0.0.2' });
    const address = (await first.waitFor(/"address":"([^"]+)"[^\n]*cluster node endpoint ready/, "the first node's endpoint"))[1];
    const registry = new Redis(redis.url);
    defer(() => registry.disconnect());
    const record = async (): Promise<string | undefined> => (JSON.parse((await registry.get(nodeKey('b'))) ?? '{}') as { address?: string }).address;
    expect(await record()).toBe(address);

    const second = await startNode('b', redis, { portHost: '127.0.0.3' });
    await second.waitFor(/"code":"E_NODE_ID_TAKEN"[^\n]*node id b is taken by another relay at [^\n]*give every node its own --node-id/, 'the refusal');
    // Heartbeats later (the TTL is 900 ms), the record is still the first node's.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await record()).toBe(address);
    expect(first.output()).not.toMatch(/E_NODE_ID_TAKEN|lease lost/);

    // The first stops: the second takes the id and joins.
    first.child.kill('SIGINT');
    await first.exited;
    await second.waitFor(/node id b is free: this node joins the cluster/, 'the second node joining', 5_000);
    expect(await record()).not.toBe(address);
    expect(second.output().match(/E_NODE_ID_TAKEN/g)).toHaveLength(1);
  });

  it('hands a lease in grace to the same device on another node as a hand-over, not a loss', async () => {
    const redis = await startRedis();
    const [a, b] = [await startNode('a', redis, { grace: '30s' }), await startNode('b', redis, { grace: '30s' })];
    const token = await issueToken(SECRET, { domains: ['web.localhost'], sub: 'same' });
    const port = await labelled('same');
    const first = await deviceOn(a.tunnelUrl, token, web(port));
    await a.waitFor(/"lease":"name:web\.localhost"[^\n]*lease held/, 'the lease, on a');
    // Dropped: a keeps the name in grace. Back on b: b takes it, which a hears of as a hand-over.
    await first.close();
    const registry = new Redis(redis.url);
    defer(() => registry.disconnect());
    const state = async (): Promise<string | undefined> => (JSON.parse((await registry.get(leaseKey('name:web.localhost'))) ?? '{}') as { state?: string }).state;
    await eventually(async () => (await state()) === 'grace', 'the lease in grace', 5_000);
    await deviceOn(b.tunnelUrl, token, web(port));
    await b.waitFor(/"lease":"name:web\.localhost"[^\n]*lease held/, 'the lease, on b');
    await a.waitFor(/"lease":"name:web\.localhost"[^\n]*standby: the same device holds this lease on another node now/, 'a standing by');
    // Back on a as well: a stays on standby.
    await deviceOn(a.tunnelUrl, token, web(port));
    await a.waitFor(/"lease":"name:web\.localhost"[^\n]*standby: the same device holds this lease on another node"/, 'a standing by for the device it has now');
    await untilServed(a, 'same');
    await untilServed(b, 'same');
    for (const node of [a, b]) expect(node.output()).not.toMatch(/E_LEASE_LOST|lease lost/);
  });

  it('keeps a name for its device through a short drop; another device gets it only after the grace', async () => {
    const redis = await startRedis();
    const grace = 1_000;
    const [a, b] = await Promise.all([startNode('a', redis, { grace: `${grace}ms` }), startNode('b', redis, { grace: `${grace}ms` })]);
    const mine = await issueToken(SECRET, { domains: ['web.localhost'], sub: 'mine' });
    const first = await deviceOn(b.tunnelUrl, mine, web(await labelled('mine')));
    await untilServed(a, 'mine');

    await first.close();
    // Another device's token for the name, while the grace runs: it waits.
    const theirs = await issueToken(SECRET, { domains: ['web.localhost'], sub: 'theirs' });
    await deviceOn(a.tunnelUrl, theirs, web(await labelled('theirs')));
    await a.waitFor(/"code":"E_LEASE_WAIT"/, 'the other device waiting');
    // The same device, back within the grace on another node, has its name again.
    const back = await deviceOn(a.tunnelUrl, mine, web(await labelled('mine again')));
    await untilServed(b, 'mine again');

    await back.close();
    const dropped = Date.now();
    // Once the drop is announced, the name is the away device's: a 502 that says so, not theirs.
    let answer = await visit(b);
    while (!answer.includes('not connected now') && Date.now() - dropped < grace / 2) answer = await visit(b);
    expect(answer).toContain('not connected now');
    await untilServed(b, 'theirs', 10_000);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(grace - 100);
  });

  it('moves the name to the other node of a device on two relays when its holder is killed; forwarded visitors get a clean end', async () => {
    const redis = await startRedis();
    const [a, b, c] = await Promise.all([startNode('a', redis), startNode('b', redis), startNode('c', redis)]);
    const token = await issueToken(SECRET, { domains: ['web.localhost'], sub: 'two-relays' });
    const device = spawn(process.execPath, [CLI, 'device', '--relay', b.tunnelUrl, '--relay', c.tunnelUrl, '--token', token, '--forward', `http:web.localhost=127.0.0.1:${await labelled('served')}`, '--json'], { stdio: 'ignore' });
    defer(() => stopChild(device));
    await untilServed(a, 'served');
    const held = /"lease":"name:web\.localhost"[^\n]*lease held/;
    await until(() => held.test(b.output()) || held.test(c.output()), 'a holder');
    const [holder, standby] = held.test(b.output()) ? [b, c] : [c, b];
    await standby.waitFor(/standby: the same device holds this lease on another node/, 'the standby');

    // A visitor on a, forwarded to the holder, mid-transfer.
    const visitor = net.connect({ host: '127.0.0.1', port: a.publicPort });
    const outcome = new Promise<string>((resolve) => {
      visitor.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
      visitor.on('close', () => resolve('closed'));
    });
    const answered = new Promise<void>((resolve) => visitor.once('data', () => resolve()));
    visitor.write('GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n');
    await answered;
    holder.child.kill('SIGKILL');
    expect(await outcome).toBe('closed');
    // Within the lease TTL (900 ms) and a heartbeat, the name is served through the other node.
    const killed = Date.now();
    await untilServed(a, 'served', 5_000);
    expect(Date.now() - killed).toBeLessThan(3_000);
  });

  it('drains on SIGTERM under load: no visitor gets a reset, the node exits 0 within the timeout', async () => {
    const redis = await startRedis();
    const port = await freePort();
    const [a, b] = await Promise.all([
      startNode('a', redis, { portHost: '127.0.0.1', tcpPorts: String(port), extra: ['--drain-timeout', '10s'] }),
      startNode('b', redis, { portHost: '127.0.0.2', tcpPorts: String(port), extra: ['--drain-timeout', '10s'] }),
    ]);
    const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    const echoPort = await listen(echo, defer);
    const token = await issueToken(SECRET, { ports: [port], sub: 'drained' });
    const device = spawn(process.execPath, [CLI, 'device', '--relay', a.tunnelUrl, '--relay', b.tunnelUrl, '--token', token, '--forward', `tcp:${port}=127.0.0.1:${echoPort}`, '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    defer(() => stopChild(device));
    let deviceLogs = '';
    device.stderr.on('data', (chunk: Buffer) => (deviceLogs += chunk.toString()));
    await Promise.all([a, b].map((node) => node.waitFor(new RegExp(`"port":${port}[^\\n]*TCP port listening`), 'the port')));
    await until(() => /"lease":"tcp:\d+"[^\n]*lease held/.test(a.output() + b.output()), 'a holder');
    const holder = /"lease":"tcp:\d+"[^\n]*lease held/.test(a.output()) ? a : b;
    const other = holder === a ? b : a;
    await other.waitFor(/standby/, 'the standby');

    // Visitors on both nodes, each halfway through its transfer when the holder is told to drain.
    const visitors = Array.from({ length: 8 }, (_, i) => {
      const node = i % 2 === 0 ? holder : other;
      const data = randomBytes(256 * 1024);
      const socket = net.connect({ host: node.portHost, port, allowHalfOpen: true });
      const chunks: Buffer[] = [];
      let length = 0;
      let half: () => void = () => undefined;
      const halfway = new Promise<void>((resolve) => (half = resolve));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= data.length / 2) half();
      });
      const done = new Promise<string>((resolve) => {
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
        socket.on('close', () => resolve(sha(Buffer.concat(chunks)) === sha(data) ? 'ok' : `${length} of ${data.length} bytes`));
      });
      socket.write(data.subarray(0, data.length / 2));
      return { socket, data, halfway, done };
    });
    await Promise.all(visitors.map((v) => v.halfway));
    const mark = holder.output().length;
    holder.child.kill('SIGTERM');
    await holder.waitFor(/draining/, 'the drain', 5_000, mark);
    for (const v of visitors) v.socket.end(v.data.subarray(v.data.length / 2));
    expect(await Promise.all(visitors.map((v) => v.done))).toEqual(visitors.map(() => 'ok'));
    const started = Date.now();
    expect(await holder.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    // New visitors go to the node that stays, where the device carries on.
    const data = randomBytes(64 * 1024);
    expect(await tcpEcho(other.portHost, port, data)).toBe(sha(data));
    // The device's lines on two relays, and the nodes', name each key once.
    for (const logs of [deviceLogs, a.output(), b.output()]) expectUniqueLogKeys(logs);
  });
});
