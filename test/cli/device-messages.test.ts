/**
 * What `mproxy device` tells its owner on stderr: why the relay refused its token (one line,
 * the relay's code), and, once connected, what each forward serves or why it gets no visitors.
 */
import { spawn } from 'node:child_process';
import { SignJWT } from 'jose';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defer, freePort, runCli, stopChild } from '../support/index.js';
import { createDevice, createRelay, issueToken, type Relay, type RelayOptions } from '../../src/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SECRET = 'device-messages-secret-of-32-bytes-or-more';

async function relay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const r = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, ...options });
  defer(() => r.close());
  return r;
}

/** Runs `mproxy device` to its end (a refused device exits by itself). */
function device(url: string, token: string, forwards: string[]): Promise<{ code: number; stderr: string }> {
  const args = ['device', '--relay', url, '--token', token, '--no-reconnect', '--json'];
  for (const forward of forwards) args.push('--forward', forward);
  return runCli(args);
}

function expectRefusal(result: { code: number; stderr: string }, sentence: RegExp, code: string): void {
  expect(result.code).toBe(1);
  // One failure, one line: nothing logged before it.
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^mproxy: the relay refused the token: ${sentence.source} \\(${code}\\)$`));
}

describe('mproxy device: refusals name their reason and code', () => {
  it('wrong secret: E_TOKEN_SIGNATURE', async () => {
    const r = await relay();
    const token = await issueToken('another-secret-of-32-bytes-or-more!', { domains: ['a.localhost'] });
    expectRefusal(await device(r.tunnelUrl, token, ['http:a.localhost=1']), /it is not signed with this relay's secret.*/, 'E_TOKEN_SIGNATURE');
  });

  it('expired: E_TOKEN_EXPIRED, with the time it expired', async () => {
    const r = await relay();
    const issued = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const token = await issueToken(SECRET, { domains: ['a.localhost'] }, { expiresIn: '1h', now: issued });
    expectRefusal(await device(r.tunnelUrl, token, ['http:a.localhost=1']), /it expired at 2026-01-02T04:04:05\.000Z/, 'E_TOKEN_EXPIRED');
  });

  it('not yet valid: E_TOKEN_NOT_YET_VALID, with the time it starts', async () => {
    const r = await relay();
    const nbf = Math.floor(Date.now() / 1000) + 3600;
    const token = await new SignJWT({ domains: ['a.localhost'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setNotBefore(nbf)
      .sign(new TextEncoder().encode(SECRET));
    const at = new Date(nbf * 1000).toISOString().replace(/\./g, '\\.');
    expectRefusal(await device(r.tunnelUrl, token, ['http:a.localhost=1']), new RegExp(`it is not valid before ${at} \\(check the clocks\\)`), 'E_TOKEN_NOT_YET_VALID');
  });

  it('name taken: E_NAME_TAKEN, naming the name', async () => {
    const r = await relay();
    const alice = createDevice({ relay: r.tunnelUrl, token: await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'alice' }), forwards: ['http:shared.localhost=1'] });
    defer(() => alice.close());
    await alice.online();
    const bob = await issueToken(SECRET, { domains: ['shared.localhost'], sub: 'bob' });
    expectRefusal(await device(r.tunnelUrl, bob, ['http:shared.localhost=1']), /name "shared\.localhost" is held by another device.*/, 'E_NAME_TAKEN');
  });

  it('port not allowed: E_PORT_NOT_ALLOWED, naming the port', async () => {
    const allowed = await freePort();
    const r = await relay({ tcpPorts: String(allowed) });
    const outside = allowed === 65535 ? allowed - 1 : allowed + 1;
    const token = await issueToken(SECRET, { ports: [outside] });
    expectRefusal(await device(r.tunnelUrl, token, [`tcp:${outside}=1`]), new RegExp(`the relay opens none of the token's ports \\(${outside}\\).*`), 'E_PORT_NOT_ALLOWED');
  });

  it('malformed: E_TOKEN_MALFORMED', async () => {
    const r = await relay();
    expectRefusal(await device(r.tunnelUrl, 'not-a-token', ['http:a.localhost=1']), /it is not a JWT.*/, 'E_TOKEN_MALFORMED');
  });
});

describe('mproxy device: what it serves', () => {

  it('prints one serving line per routed forward, and a warning with the reason for each other', async () => {
    const [allowed, outside, unclaimed] = [await freePort(), await freePort(), await freePort()];
    const r = await relay({ tcpPorts: String(allowed) });
    const token = await issueToken(SECRET, { domains: ['app.localhost'], ports: [allowed, outside] });
    const args = ['device', '--relay', r.tunnelUrl, '--token', token, '--json'];
    for (const forward of [
      'https:app.localhost=127.0.0.1:3000',
      'http:other.localhost=127.0.0.1:3001',
      `tcp:${allowed}=127.0.0.1:22`,
      `tcp:${outside}=127.0.0.1:23`,
      `udp:${unclaimed}=127.0.0.1:53`,
    ]) {
      args.push('--forward', forward);
    }
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    defer(() => stopChild(child));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.split('\n').filter((line) => /serving|gets no visitors/.test(line)).length >= 5) resolve();
      });
      child.once('exit', () => reject(new Error(`device exited: ${output}`)));
    });
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; code?: string });
    const about = (pattern: RegExp) => lines.filter((line) => pattern.test(line.msg));
    expect(about(/^serving https:\/\/app\.localhost → 127\.0\.0\.1:3000$/)).toMatchObject([{ level: 30 }]);
    expect(about(new RegExp(`^serving tcp 127\\.0\\.0\\.1:${allowed} → 127\\.0\\.0\\.1:22$`))).toMatchObject([{ level: 30 }]);
    expect(about(/^http:\/\/other\.localhost → 127\.0\.0\.1:3001 gets no visitors: no token of this device grants the name other\.localhost$/)).toMatchObject([
      { level: 40, code: 'E_NOT_GRANTED' },
    ]);
    expect(about(new RegExp(`^tcp 127\\.0\\.0\\.1:${outside} → 127\\.0\\.0\\.1:23 gets no visitors: the relay does not open TCP port ${outside}`))).toMatchObject([
      { level: 40, code: 'E_PORT_NOT_ALLOWED' },
    ]);
    expect(about(new RegExp(`^udp 127\\.0\\.0\\.1:${unclaimed} → 127\\.0\\.0\\.1:53 gets no visitors: no token of this device grants port ${unclaimed}$`))).toMatchObject([
      { level: 40, code: 'E_NOT_GRANTED' },
    ]);
  });
});
