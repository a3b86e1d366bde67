/**
 * The cluster's small parts on their own: durations, options, the node-to-node proof, how a node
 * applies announcements to its copy of the lease table, and the CLI's refusals of cluster flags
 * that do not go together.
 */
import { describe, expect, it } from 'vitest';
import { parseMilliseconds } from '../../src/cluster/duration.js';
import { checkNodeAuth, checkNodeAuthAnswer, nodeAuthAnswer, nodeAuthRequest } from '../../src/cluster/node-auth.js';
import { resolveClusterOptions } from '../../src/cluster/options.js';
import { applyAnnouncement, type Announcement, type Cached, type LeaseHolder } from '../../src/cluster/leases.js';
import { parseRedisUrl, redactUrl } from '../../src/cluster/redis.js';
import { openUnique } from '../../src/cluster/unique.js';
import { createRelay, createTunnel, memoryPair } from '../../src/index.js';
import { SECRET, runCli } from '../support/index.js';

describe('cluster durations and options', () => {
  it('reads 30s, 500ms, 2m, 1h and bare seconds; refuses the rest', () => {
    expect(parseMilliseconds('30s', 'x')).toBe(30_000);
    expect(parseMilliseconds('500ms', 'x')).toBe(500);
    expect(parseMilliseconds('2m', 'x')).toBe(120_000);
    expect(parseMilliseconds('1h', 'x')).toBe(3_600_000);
    expect(parseMilliseconds('7', 'x')).toBe(7_000);
    expect(parseMilliseconds('0', 'x', true)).toBe(0);
    for (const bad of ['0', '-1s', '1.5s', 'soon', '', '30d', '999999h']) expect(() => parseMilliseconds(bad, '--lease-grace')).toThrow(/--lease-grace/);
  });

  it('fills the defaults and refuses a bad url, node id or TTL', () => {
    expect(resolveClusterOptions({ url: 'redis://127.0.0.1:6379', nodeId: 'a', nodeListen: '127.0.0.1:0' })).toMatchObject({
      leaseTtl: 10_000,
      leaseGrace: 30_000,
      drainTimeout: 30_000,
      nodeTls: false,
    });
    const base = { url: 'redis://127.0.0.1:6379', nodeId: 'a', nodeListen: '127.0.0.1:0' };
    expect(() => resolveClusterOptions({ ...base, url: 'http://x' })).toThrow(/E_INVALID_OPTION|redis:\/\//);
    expect(() => resolveClusterOptions({ ...base, nodeId: 'a b' })).toThrow(/nodeId/);
    expect(() => resolveClusterOptions({ ...base, leaseTtl: 100 })).toThrow(/leaseTtl/);
  });

  it('reads the host lists of redis+sentinel:// and redis+cluster://; refuses a bad entry or a Sentinel URL without its master', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toBeUndefined();
    expect(parseRedisUrl('redis+sentinel://:s%40cret@10.0.0.1:26379,[::1]:26380,sentinel.internal/mymaster')).toEqual({
      protocol: 'redis+sentinel:',
      hosts: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 'sentinel.internal', port: 6379 },
      ],
      username: undefined,
      password: 's@cret',
      master: 'mymaster',
    });
    expect(parseRedisUrl('redis+sentinel://10.0.0.1:26379/mymaster?sentinelPassword=a%2Bb+c%26&sentinelUsername=watch')).toMatchObject({
      master: 'mymaster',
      password: undefined,
      sentinelUsername: 'watch',
      sentinelPassword: 'a+b+c&',
    });
    expect(parseRedisUrl('redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]')).toMatchObject({
      protocol: 'redis+cluster:',
      hosts: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 6379 },
      ],
      username: 'app',
      password: 'pw',
    });
    // Passwords never reach a log line or a message: the user's and the Sentinels'.
    expect(redactUrl('redis+sentinel://app:p%40ss@10.0.0.1:26379/m?sentinelUsername=w&sentinelPassword=s3cret')).toBe('redis+sentinel://app:***@10.0.0.1:26379/m?sentinelUsername=w&sentinelPassword=***');
    expect(() => parseRedisUrl('redis://:hunter2@host:abc')).toThrow(/"redis:\/\/:\*\*\*@host:abc" is not a URL/);
    expect(() => parseRedisUrl('redis:/:hunter2@host')).not.toThrow(/hunter2/);
    const base = { nodeId: 'a', nodeListen: '127.0.0.1:0' };
    expect(resolveClusterOptions({ ...base, url: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001' }).url).toBe('redis+cluster://10.0.0.1:7000,10.0.0.2:7001');
    for (const bad of ['redis+cluster://10.0.0.1:7000,10.0.0.2:x', 'redis+cluster://', 'redis+sentinel://10.0.0.1:26379,10.0.0.2:26379', 'redis+sentinel://10.0.0.1:99999/m', 'redis+sentinel://:%E0%A4%A@10.0.0.1:26379/m', 'redis+cluster://::1:7000', 'redis+cluster://:7000', 'redis+cluster://10.0.0.1:0', 'redis+cluster://10.0.0.1:7000?sentinelPassword=x', 'redis+sentinel://10.0.0.1:26379/m?password=x', 'redis+sentinel://10.0.0.1:26379/m?sentinelPassword=%E0%A4%A']) {
      expect(() => resolveClusterOptions({ ...base, url: bad }), bad).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }));
    }
  });

  it('refuses nodeTls: true without a certificate, at createRelay', async () => {
    await expect(
      createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, cluster: { url: 'redis://127.0.0.1:1', nodeId: 'a', nodeListen: '127.0.0.1:0', nodeTls: true } }),
    ).rejects.toMatchObject({ code: 'E_INVALID_OPTION' });
  });
});

describe('openUnique', () => {
  it('opens a second visitor of the same address and port under the next free port, keeping the address', () => {
    const [left, right] = memoryPair();
    const tunnel = createTunnel(left);
    const peer = createTunnel(right);
    peer.clients$.subscribe();
    const meta = { family: 'IPv4', address: '203.0.113.7', port: 40000, service: 'tcp', serviceport: 5050 };
    const first = openUnique((m) => tunnel.open(m), meta);
    const second = openUnique((m) => tunnel.open(m), meta);
    const third = openUnique((m) => tunnel.open(m), meta);
    expect([first.meta.port, second.meta.port, third.meta.port]).toEqual([40000, 40001, 40002]);
    expect(third.meta.address).toBe('203.0.113.7');
    expect(() => openUnique(() => { throw Object.assign(new Error('closed'), { code: 'E_TUNNEL_CLOSED' }); }, meta)).toThrow('closed');
    tunnel.destroy();
    peer.destroy();
  });
});

describe('the node-to-node proof', () => {
  const other = 'another-secret-of-32-bytes-or-more!!';

  it('holds for the secret, the node dialled and the session; not for another secret, node, session or a stale time', () => {
    const request = nodeAuthRequest(SECRET, 'a', 'b', 'binding');
    expect(checkNodeAuth(SECRET, 'b', request, 'binding')).toBe(true);
    expect(checkNodeAuth(other, 'b', request, 'binding')).toBe(false);
    expect(checkNodeAuth(SECRET, 'c', request, 'binding')).toBe(false);
    expect(checkNodeAuth(SECRET, 'b', request, 'another session')).toBe(false);
    expect(checkNodeAuth(SECRET, 'b', { ...request, from: 'x' }, 'binding')).toBe(false);
    expect(checkNodeAuth(SECRET, 'b', { ...request, time: request.time - 10 * 60_000 }, 'binding')).toBe(false);
    expect(checkNodeAuth(SECRET, 'b', 'garbage', 'binding')).toBe(false);
    const answer = nodeAuthAnswer(SECRET, request, 'binding');
    expect(checkNodeAuthAnswer(SECRET, request, answer, 'binding')).toBe(true);
    expect(checkNodeAuthAnswer(SECRET, request, nodeAuthAnswer(other, request, 'binding'), 'binding')).toBe(false);
    // The answer is not the request's MAC turned around.
    expect(checkNodeAuthAnswer(SECRET, request, request.mac, 'binding')).toBe(false);
  });
});

describe('mproxy relay cluster flags', () => {
  const run = (args: string[]) => runCli(args, { timeoutMs: 10_000 });

  it('refuses node flags without --cluster, --cluster without a node id, and a bad duration, in one line', async () => {
    const base = ['relay', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0'];
    const results = await Promise.all([
      run([...base, '--node-id', 'a']),
      run([...base, '--cluster', 'redis://127.0.0.1:1', '--node-listen', '127.0.0.1:0']),
      run([...base, '--cluster', 'redis://127.0.0.1:1', '--node-id', 'a', '--node-listen', '127.0.0.1:0', '--lease-grace', 'soon']),
    ]);
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/\(E_USAGE\)$/m);
    }
    expect(results[2]?.stderr).toContain('--lease-grace');
  });
});

describe('a node applying announcements to its copy of the lease table', () => {
  const holder = (node: string, epoch: number, state: 'live' | 'grace' = 'live'): LeaseHolder => ({ node, owner: 'dev', epoch, state });
  const event = (t: Announcement['t'], node: string, epoch: number): Announcement => ({ t, k: 'name:app.localhost', node, owner: 'dev', epoch, ttl: 1000 });
  const table = (entries: [string, LeaseHolder][]) => new Map<string, Cached<LeaseHolder>>(entries.map(([k, value]) => [k, { value, expiresAt: 5000 }]));

  it('keeps a claim heard while a read that missed it was in flight, replayed on what the read returned', () => {
    // The read returned an empty table; the claim was announced after the read ran.
    const leases = table([]);
    applyAnnouncement(leases, event('claim', 'b', 4), 100);
    expect(leases.get('name:app.localhost')).toEqual({ value: holder('b', 4), expiresAt: 1100 });
  });

  it("applies one epoch's claim, grace and release in order", () => {
    const leases = table([]);
    applyAnnouncement(leases, event('claim', 'b', 5), 0);
    applyAnnouncement(leases, event('grace', 'b', 5), 0);
    expect(leases.get('name:app.localhost')?.value).toEqual(holder('b', 5, 'grace'));
    applyAnnouncement(leases, event('release', 'b', 5), 0);
    expect(leases.has('name:app.localhost')).toBe(false);
  });

  it('ignores an announcement of an older epoch than the entry (the lease was taken again since)', () => {
    const leases = table([['name:app.localhost', holder('c', 7)]]);
    applyAnnouncement(leases, event('release', 'b', 6), 0);
    applyAnnouncement(leases, event('claim', 'b', 6), 0);
    expect(leases.get('name:app.localhost')?.value).toEqual(holder('c', 7));
    applyAnnouncement(leases, event('claim', 'a', 8), 0);
    expect(leases.get('name:app.localhost')?.value).toEqual(holder('a', 8));
  });
});
