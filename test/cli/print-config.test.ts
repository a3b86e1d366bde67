/**
 * `mproxy relay` and `mproxy device` with `--print-config`: what a start would refuse is
 * refused there, with the same line and exit code, and nothing is opened, made or printed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { defer, runCli } from '../support/index.js';

const SECRET = 'print-config-test-secret-of-32-bytes-or-more';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mproxy-print-config-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `task` on each item, `limit` at a time; results in the items' order. */
async function pool<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

describe('--print-config', () => {
  it('refuses with --print-config what a start refuses, with the same line, and prints nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['relay', '--secret', SECRET, '--tcp-ports', '5000-'], /--tcp-ports must be ports 1-65535 .*\(E_INVALID_OPTION\)/],
      [['relay', '--secret', SECRET, '--sniff-timeout', 'soon'], /--sniff-timeout soon is not a positive number of milliseconds.*\(E_USAGE\)/],
      [['relay', '--secret', SECRET, '--cluster', 'redis+sentinel://127.0.0.1:26379', '--node-id', 'a', '--node-listen', '127.0.0.1:7000'], /names the master.*\(E_INVALID_OPTION\)/],
      [['relay', '--secret', 'short'], /\(E_WEAK_SECRET\)/],
      [['relay', '--secret', SECRET, '--tunnel-acme', 'bad_name', '--acme-email', 'ops@example.com'], /^mproxy: --tunnel-acme name "bad_name" is not a host name \(E_INVALID_OPTION\)\n$/],
      [['relay', '--secret', SECRET, '--cluster', 'redis://127.0.0.1:6379', '--node-id', 'a', '--node-listen', '127.0.0.1:99999'], /^mproxy: --node-listen "127\.0\.0\.1:99999" must be host:port, the port 0-65535/],
      [['device', '--relay', 'ws://127.0.0.1:1', '--token', 'x', '--forward', 'https:app.example.com=http://127.0.0.1:3000'], /^mproxy: no certificate for app\.example\.com: give --acme-email/],
      [['device', '--relay', 'ws://127.0.0.1:1', '--token', 'x', '--forward', 'https:app.example.com=http://127.0.0.1:3000', '--cert', 'app.example.com=/nonexistent/a.pem,/nonexistent/a.key'], /^mproxy: cert for app\.example\.com: ENOENT/],
      [['relay', '--secret', SECRET, '--listen', '::1:8443'], /^mproxy: --listen "::1:8443" must be host:port \(an IPv6 address goes in brackets: \[::1\]:8080\) \(E_INVALID_OPTION\)\n$/],
      [['relay', '--secret', SECRET, '--cluster', 'redis://::1:6379', '--node-id', 'a', '--node-listen', '127.0.0.1:7000'], /^mproxy: --cluster "redis:\/\/::1:6379" is not a URL such as redis:\/\/10\.0\.0\.5:6379 \(an IPv6/],
      [['relay', '--secret', SECRET, '--cluster', 'redis://127.0.0.1:6379', '--node-id', 'a', '--node-listen', '::1:7000'], /^mproxy: --node-listen "::1:7000" must be host:port, the port 0-65535 \(an IPv6/],
      [['relay', '--secret-file', join(tempDir(), 'nosuch')], /cannot read --secret-file .*\(E_BAD_INPUT\)/],
      [['device', '--relay', 'ws://127.0.0.1:1', '--token', 'x', '--forward', 'bogus'], /forward "bogus" is not .*\(E_INVALID_OPTION\)/],
      [['device', '--relay', '127.0.0.1:1', '--token', 'x', '--forward', 'tcp:5000=127.0.0.1:5001'], /--relay "127\.0\.0\.1:1" is not a URL.*\(E_INVALID_OPTION\)/],
    ];
    // Four at a time: each is two short CLI processes.
    const results = await pool(cases, 4, async ([args]) => ({
      checked: await runCli([...args, '--print-config']),
      started: await runCli(args.includes('--relay') ? [...args, '--no-reconnect'] : [...args, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0']),
    }));
    for (const [i, [args, message]] of cases.entries()) {
      const { checked, started } = results[i] as (typeof results)[number];
      expect(checked.stderr, args.join(' ')).toMatch(message);
      expect(checked.code, args.join(' ')).toBe(1);
      expect(checked.stdout, args.join(' ')).toBe('');
      expect(started.stderr, args.join(' ')).toBe(checked.stderr);
      expect(started.code, args.join(' ')).toBe(1);
    }
    // --sniff-timeout and --token-grace take milliseconds or a duration with its unit.
    for (const value of ['10000', '10s', '500ms']) {
      expect((await runCli(['relay', '--secret', SECRET, '--sniff-timeout', value, '--token-grace', value, '--print-config'])).code, value).toBe(0);
    }
    expect((await runCli(['relay', '--secret', SECRET, '--token-grace', '0s', '--print-config'])).stderr).toMatch(/--token-grace/);
    // ACME's options are checked, but its certificate folder is not made: a check run as another
    // user must not create it with that user's ownership.
    const certDir = join(tempDir(), 'certs');
    const acme = await runCli(['device', '--relay', 'ws://127.0.0.1:1', '--token', 'x', '--forward', 'https:app.example.com=http://127.0.0.1:3000', '--acme-email', 'ops@example.com', '--cert-dir', certDir, '--print-config']);
    expect(acme.code).toBe(0);
    expect(existsSync(certDir)).toBe(false);
    expect((await runCli(['device', '--relay', 'ws://127.0.0.1:1', '--token', 'x', '--forward', 'https:*.example.com=http://127.0.0.1:3000', '--acme-email', 'ops@example.com', '--print-config'])).stderr).toMatch(/\(E_ACME_WILDCARD\)/);
    // A cluster URL that holds a password is a secret: said, not shown. One without is shown.
    const cluster = ['relay', '--secret', SECRET, '--node-id', 'a', '--node-listen', '127.0.0.1:7000', '--print-config'];
    const hidden = await runCli([...cluster, '--cluster', 'redis+sentinel://10.0.0.1:26379/m?sentinelPassword=s3cret']);
    expect(hidden.stdout).not.toContain('s3cret');
    expect(hidden.stdout).toMatch(/^# given but not shown: secret, cluster\n/);
    expect(parse((await runCli([...cluster, '--cluster', 'redis://10.0.0.1:6379'])).stdout)).toMatchObject({ cluster: 'redis://10.0.0.1:6379' });
  });
});
