/**
 * Three relay nodes (CLI processes) on one real Redis: a visitor on any node reaches a device
 * connected to one of them, by TLS SNI (passthrough), HTTP Host and TCP port, bytes checked.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { defer, expectUniqueLogKeys } from '../support/index.js';
import { CLI, startNode, startRedis } from '../support/cluster.js';
import { clusterToken, deviceOn, forwardsFor, freePort, httpPost, randomBytes, services, sha, tcpEcho, tlsEcho } from './helpers.js';

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 10_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve(stdout)));
  });
}

describe('a relay cluster on Redis', () => {
  it('carries visitors of every node to the device on node B: SNI, Host and TCP port; 100 visitors spread over three nodes', async () => {
    const redis = await startRedis();
    const port = await freePort();
    const [a, b, c, wrong] = await Promise.all([
      startNode('a', redis, { portHost: '127.0.0.1', tcpPorts: String(port), extra: ['--udp-ports', String(port)] }),
      startNode('b', redis, { portHost: '127.0.0.2', tcpPorts: String(port), extra: ['--udp-ports', String(port)] }),
      startNode('c', redis, { portHost: '127.0.0.3', tcpPorts: String(port), extra: ['--udp-ports', String(port)] }),
      // A node with another secret: the others must refuse it.
      startNode('d', redis, { extra: ['--secret', 'another-secret-of-32-bytes-or-more!!'] }),
    ]);
    const local = await services();
    const udpEcho = createSocket('udp4');
    udpEcho.on('message', (message, from) => udpEcho.send(message, from.port, from.address));
    await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => udpEcho.close(() => resolve())));
    await deviceOn(b.tunnelUrl, await clusterToken(port), [...forwardsFor(local, port), `udp:${port}=127.0.0.1:${udpEcho.address().port}`]);
    // The lease is announced: every node listens on the claimed port.
    await Promise.all([a, b, c].map((node) => node.waitFor(new RegExp(`"port":${port}[^\\n]*TCP port listening`), 'the claimed port')));
    await a.waitFor(new RegExp(`"port":${port}[^\\n]*UDP port listening`), 'the claimed UDP port');

    // `mproxy cluster status`: the nodes, and every name and port with its holder.
    const status = JSON.parse(await cli(['cluster', 'status', '--cluster', redis.url, '--json'])) as {
      nodes: { id: string; address: string }[];
      leases: { kind: string; what: string; node: string; state: string }[];
    };
    expect(status.nodes.map((node) => node.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(status.leases.map((lease) => [lease.kind, lease.what, lease.node, lease.state])).toEqual([
      ['name', 'app.localhost', 'b', 'live'],
      ['name', 'web.localhost', 'b', 'live'],
      ['tcp', String(port), 'b', 'live'],
      ['udp', String(port), 'b', 'live'],
    ]);
    const table = await cli(['cluster', 'status', '--cluster', redis.url]);
    expect(table).toMatch(/^NODE +ADDRESS +TLS +STATE +TTL\n/);
    expect(table).toMatch(new RegExp(`\\ntcp +${port} +b +live +\\d+ `));

    const data = randomBytes(256 * 1024);
    expect(await tlsEcho(a.publicPort, 'app.localhost', data)).toBe(sha(data));
    expect(await httpPost(a.publicPort, 'web.localhost', data)).toBe(`web.localhost ${sha(data)}`);
    expect(await tcpEcho('127.0.0.1', port, data)).toBe(sha(data));

    // UDP by port: a datagram to node a comes back from the device's service through b. A
    // datagram may be lost (it is UDP): sent again until one answer comes.
    const visitor = createSocket('udp4');
    defer(() => new Promise<void>((resolve) => visitor.close(() => resolve())));
    const answer = new Promise<string>((resolve) => visitor.once('message', (message) => resolve(message.toString())));
    const resend = setInterval(() => visitor.send('datagram through the cluster', port, '127.0.0.1'), 50);
    visitor.send('datagram through the cluster', port, '127.0.0.1');
    expect(await answer.finally(() => clearInterval(resend))).toBe('datagram through the cluster');

    const nodes = [a, b, c];
    const visits = Array.from({ length: 100 }, async (_, i) => {
      const node = nodes[i % 3]!;
      const body = randomBytes(8 * 1024 + i * 97);
      const kind = Math.floor(i / 3) % 3;
      if (kind === 0) return (await tlsEcho(node.publicPort, 'app.localhost', body)) === sha(body);
      if (kind === 1) return (await httpPost(node.publicPort, 'web.localhost', body)) === `web.localhost ${sha(body)}`;
      return (await tcpEcho(node.portHost, port, body)) === sha(body);
    });
    const arrived = await Promise.all(visits);
    expect(arrived.filter(Boolean)).toHaveLength(100);
    // Forwarded over one node-to-node tunnel per pair, no more.
    expect(a.output().match(/node-to-node link up/g)).toHaveLength(1);

    // A node with another secret is refused by B, which says so, and so does the node itself,
    // asking about --secret; its visitor gets a page saying the holder cannot be reached.
    await expect(httpPost(wrong.publicPort, 'web.localhost', data)).resolves.toContain('web.localhost is served through another relay node, which cannot be reached now.');
    await expect(tlsEcho(wrong.publicPort, 'app.localhost', data)).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' });
    await b.waitFor(/"code":"E_NODE_AUTH"[^\n]*node-to-node connection refused: wrong cluster secret/, 'the refusal');
    await wrong.waitFor(/"peer":"b"[^\n]*"code":"E_NODE_AUTH"[^\n]*node authentication failed: does every node have the same --secret\?/, 'the refusal, on the dialling side');
    // One key once per log line (a child logger's bindings and a line's own fields can clash).
    for (const node of [a, b, c, wrong]) expectUniqueLogKeys(node.output());
  });
});
