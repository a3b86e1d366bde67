import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defer, runCli, stopChild } from '../support/index.js';
import { createRelay, verifyToken, type Relay } from '../../src/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env });

function expectOneLineError(result: Run, code: string): void {
  expect(result.code).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(new RegExp(`^mproxy: .+ \\(${code}\\)$`));
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** Starts a long-running command and resolves once `pattern` appears on stdout or stderr. */
function startUntil(args: string[], pattern: RegExp): Promise<{ child: ChildProcess; output: () => string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    defer(() => stopChild(child));
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve({ child, output: () => output, match });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${output}`)));
  });
}


describe('mproxy token', () => {
  it('prints a JWT that the relay accepts, with the names, ports and expiry asked for', async () => {
    const result = await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--domain', 'app.localhost', '--port', '5050', '--expires', '24h']);
    expect(result.code).toBe(0);
    const grant = await verifyToken(result.stdout.trim(), 'cli-test-secret-of-32-bytes-or-more');
    expect(grant.domains).toEqual(['app.localhost']);
    expect(grant.ports).toEqual([5050]);
    const hours = ((grant.expiresAt?.getTime() ?? 0) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
  });

  it('takes the secret from MPROXY_SECRET', async () => {
    const result = await run(['token', '--domain', 'a.localhost'], { MPROXY_SECRET: 'cli-test-secret-of-32-bytes-or-more' });
    expect(result.code).toBe(0);
    await expect(verifyToken(result.stdout.trim(), 'cli-test-secret-of-32-bytes-or-more')).resolves.toMatchObject({ domains: ['a.localhost'] });
  });

  it('refuses a missing secret, a bad port and a bad duration with one line', async () => {
    expectOneLineError(await run(['token', '--domain', 'a.localhost'], { MPROXY_SECRET: '' }), 'E_USAGE');
    expectOneLineError(await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--port', '70000']), 'E_USAGE');
    expect((await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--domain', 'app_1.localhost'])).stderr).toBe(
      "mproxy: --domain app_1.localhost is not a host name: labels of letters, digits and '-' between dots (no '_'), or *.NAME for a wildcard (E_USAGE)\n",
    );
    expectOneLineError(await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--domain', 'a.localhost', '--expires', 'soon']), 'E_INVALID_OPTION');
    expect((await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--domain', 'a.localhost', '--expires', 'soon'])).stderr).toMatch(/^mproxy: --expires must be a whole number .*, got "soon" \(E_INVALID_OPTION\)$/m);
  });
});

describe('mproxy secret and weak secrets', () => {
  it('prints a new 32-byte hex secret each time', async () => {
    const [a, b] = await Promise.all([run(['secret']), run(['secret'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(b.stdout).not.toBe(a.stdout);
  });

  it('refuses a secret under 32 bytes with one E_WEAK_SECRET line; --allow-weak-secret takes it with a warning', async () => {
    const weak = await run(['relay', '--secret', 'short', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0']);
    expectOneLineError(weak, 'E_WEAK_SECRET');
    expect(weak.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(weak.stderr).toContain('mproxy secret');
    expectOneLineError(await run(['token', '--secret', 'short', '--domain', 'a.localhost']), 'E_WEAK_SECRET');
    const token = await run(['token', '--secret', 'short', '--allow-weak-secret', '--domain', 'a.localhost']);
    expect(token.code).toBe(0);
    expect(token.stderr).toMatch(/^mproxy: warning: the secret is 5 bytes long/);
    await expect(verifyToken(token.stdout.trim(), 'short')).resolves.toMatchObject({ domains: ['a.localhost'] });
    const relay = await startUntil(
      ['relay', '--secret', 'short', '--allow-weak-secret', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--json'],
      /device endpoint ready/,
    );
    expect(relay.output()).toMatch(/"level":40,[^\n]*"code":"E_WEAK_SECRET"/);
  });
});

describe('mproxy relay and device', () => {
  it('runs a relay that logs its listeners, and a device that serves through it', async () => {
    const local: Server = createServer((_req, res) => res.end('served by the device'));
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => local.close(() => resolve())));
    const relay = await startUntil(
      ['relay', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--json'],
      /"url":"(ws:\/\/127\.0\.0\.1:\d+)"[^\n]*device endpoint ready/,
    );
    const publicPort = Number(/"address":"127\.0\.0\.1:(\d+)"[^\n]*visitors listener ready/.exec(relay.output())?.[1]);
    const token = (await run(['token', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--domain', 'app.localhost'])).stdout.trim();
    const localPort = (local.address() as AddressInfo).port;
    await startUntil(
      ['device', '--relay', relay.match[1] as string, '--token', token, '--forward', `http:app.localhost=127.0.0.1:${localPort}`, '--json'],
      /serving http:\/\/app\.localhost → 127\.0\.0\.1:\d+/,
    );
    // fetch() would not send our Host header: it is a forbidden header name there.
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: publicPort, headers: { host: 'app.localhost' } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(response.status).toBe(200);
    expect(response.body).toBe('served by the device');
  });

  it('exits with one line when the relay refuses the token', async () => {
    const relay: Relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: 'cli-test-secret-of-32-bytes-or-more' });
    defer(() => relay.close());
    const token = (await run(['token', '--secret', 'another-secret-of-32-bytes-or-more', '--domain', 'app.localhost'])).stdout.trim();
    const result = await run(['device', '--relay', relay.tunnelUrl, '--token', token, '--forward', 'http:app.localhost=3000', '--json']);
    expectOneLineError(result, 'E_TOKEN_SIGNATURE');
    // One line for one failure: the device logs nothing more about it.
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^mproxy: the relay refused the token: it is not signed with this relay's secret/);
  });

  it('refuses bad flags with one line', async () => {
    expectOneLineError(await run(['relay', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--listen', 'nowhere']), 'E_INVALID_OPTION');
    // The flag a CLI user gave, not the library option's name.
    const ports = await run(['relay', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--tcp-ports', '5000-abc']);
    expect(ports.stderr).toMatch(/^mproxy: --tcp-ports must be ports 1-65535/);
    const listen = await run(['relay', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--listen', '127.0.0.1:99999']);
    expect(listen.stderr).toBe('mproxy: --listen port 99999 is not 0-65535 (E_INVALID_OPTION)\n');
    const demo = await run(['demo', '--name', 'bad_name']);
    expect(demo.stderr).toBe('mproxy: --name "bad_name" is not a DNS name (letters, digits, hyphens and dots) (E_USAGE)\n');
    expectOneLineError(await run(['relay', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--log-level', 'loud']), 'E_USAGE');
    // One listener failing must not leave the other one keeping the process alive.
    const busy = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: 'cli-test-secret-of-32-bytes-or-more' });
    defer(() => busy.close());
    const taken = `127.0.0.1:${busy.addresses.public.port}`;
    expectOneLineError(await run(['relay', '--secret', 'cli-test-secret-of-32-bytes-or-more', '--listen', taken, '--tunnel', '127.0.0.1:0', '--log-level', 'silent']), 'EADDRINUSE');
    expect((await run(['demo', '--listen', taken, '--tunnel', '127.0.0.1:0', '--log-level', 'silent'])).stderr).toBe(`mproxy: --listen ${taken}: address already in use (EADDRINUSE)\n`);
    expectOneLineError(await run(['device', '--relay', 'ws://127.0.0.1:1', '--token-file', '/nonexistent/token', '--forward', 'http:a.localhost=1']), 'E_BAD_INPUT');
    expectOneLineError(await run(['device', '--relay', 'http://x', '--token', 't', '--forward', 'http:a.localhost=1']), 'E_INVALID_OPTION');
    expectOneLineError(await run(['device', '--relay', 'ws://127.0.0.1:1', '--token', 't', '--forward', 'ftp:a=1']), 'E_INVALID_OPTION');
    expectOneLineError(await run(['device', '--relay', 'ws://127.0.0.1:1', '--forward', 'http:a.localhost=1'], { MPROXY_TOKEN: '' }), 'E_USAGE');
  });
});

describe('npm start (mproxy demo)', () => {
  it('prints a curl command that reaches the local HTTPS service through the tunnel', async () => {
    const demo = await startUntil(['demo', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--json'], /^ {2}(curl .+)$/m);
    const curl = (demo.match[1] as string).split(' ');
    const result = await new Promise<Run>((resolve) => {
      execFile(curl[0] as string, [...curl.slice(1), '--silent', '--show-error', '--max-time', '10'], (error, stdout, stderr) =>
        resolve({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Hello from the device's local HTTPS service, reached through mproxy/);
  });
});
