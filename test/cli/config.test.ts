/**
 * The relay and the device from YAML config files, repeatable --listen, and the lines the CLI
 * prints when an address is taken or the device is pointed at the wrong port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defer, freePort, httpGet, runCli, selfSignedCertificate, until, stopChild } from '../support/index.js';
import { parse } from 'yaml';
import { createRelay, issueToken } from '../../src/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SECRET = 'config-test-secret-of-32-bytes-or-more';

const children: ChildProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mproxy-config-test-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const run = (args: string[], cwd?: string) => runCli(args, { cwd });

/** Starts a long-running command; resolves once `pattern` appears on stderr. */
function startUntil(args: string[], pattern: RegExp): Promise<{ output: () => string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    defer(() => stopChild(child));
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve({ output: () => output, match });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${output}`)));
  });
}

async function localService(): Promise<number> {
  const server: Server = createServer((req, res) => res.end(`served ${req.headers.host ?? ''}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe('mproxy relay: several --listen, --config, --print-config', () => {
  it('serves visitors on every --listen address', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const relay = await startUntil(
      ['relay', '--listen', `127.0.0.1:${a}`, '--listen', `127.0.0.1:${b}`, '--tunnel', '127.0.0.1:0', '--secret', SECRET, '--json'],
      /"url":"(ws:\/\/127\.0\.0\.1:\d+)"[^\n]*device endpoint ready/,
    );
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const local = await localService();
    await startUntil(['device', '--relay', relay.match[1] as string, '--token', token, '--forward', `http:app.localhost=127.0.0.1:${local}`, '--json'], /serving http:/);
    expect(await httpGet(a, 'app.localhost')).toContain('served app.localhost');
    expect(await httpGet(b, 'app.localhost')).toContain('served app.localhost');
  });

  it('reads its options from a YAML file, flags winning, and prints them without the secret', async () => {
    const dir = tempDir();
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    const config = join(dir, 'relay.yaml');
    writeFileSync(
      config,
      ['listen:', '  - 127.0.0.1:1111', '  - 127.0.0.1:2222', 'tunnel: 127.0.0.1:3333', `secret: ${SECRET}`, 'tcp-ports: 5000-5100', 'sniff-timeout: 5000', ''].join('\n'),
    );
    const printed = await run(['relay', '--config', config, '--tunnel', '127.0.0.1:4444', '--print-config']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).not.toContain(SECRET);
    expect(printed.stdout).toMatch(/^# given but not shown: secret$/m);
    expect(parse(printed.stdout)).toMatchObject({
      listen: ['127.0.0.1:1111', '127.0.0.1:2222'],
      tunnel: '127.0.0.1:4444',
      'tcp-ports': '5000-5100',
      'sniff-timeout': '5000',
      'token-grace': '30000',
    });
    // The printed configuration is a config file that gives the same configuration again.
    const again = join(dir, 'again.yaml');
    writeFileSync(again, `${printed.stdout}secret-file: ${secretFile}\n`);
    const reprinted = await run(['relay', '--config', again, '--print-config']);
    expect(parse(reprinted.stdout)).toEqual({ ...parse(printed.stdout), 'secret-file': secretFile });
  });

  it("reads a relative file in the file from the file's own folder, and prints files absolute", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    writeFileSync(join(dir, 'relay.yaml'), ['listen: 127.0.0.1:0', 'tunnel: 127.0.0.1:0', 'secret-file: secret', 'tunnel-cert: tls/relay.pem', 'tunnel-key: tls/relay.key', ''].join('\n'));
    // --print-config reads the files as a start would: they must be there, relative to the file.
    const pems = await selfSignedCertificate('relay.localhost');
    mkdirSync(join(dir, 'tls'));
    writeFileSync(join(dir, 'tls', 'relay.pem'), pems.cert);
    writeFileSync(join(dir, 'tls', 'relay.key'), pems.key);
    const app = await selfSignedCertificate('app.localhost');
    writeFileSync(join(dir, 'tls', 'a.pem'), app.cert);
    writeFileSync(join(dir, 'tls', 'a.key'), app.key);
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, 'mine'), `${SECRET}\n`);
    const printed = await run(['relay', '--config', join(dir, 'relay.yaml'), '--print-config'], elsewhere);
    expect(printed.code).toBe(0);
    expect(parse(printed.stdout)).toMatchObject({
      'secret-file': join(dir, 'secret'),
      'tunnel-cert': join(dir, 'tls', 'relay.pem'),
      'tunnel-key': join(dir, 'tls', 'relay.key'),
    });
    writeFileSync(join(dir, 'device.yaml'), ['relay: ws://127.0.0.1:1', 'forward: https:app.localhost=http://127.0.0.1:3000', 'cert: app.localhost=tls/a.pem,tls/a.key', ''].join('\n'));
    const device = await run(['device', '--config', join(dir, 'device.yaml'), '--token', 'x', '--print-config'], elsewhere);
    expect(parse(device.stdout)).toMatchObject({ cert: [`app.localhost=${join(dir, 'tls', 'a.pem')},${join(dir, 'tls', 'a.key')}`] });
    // A path given as a flag stays relative to the directory the command runs in.
    const flagged = await run(['relay', '--config', join(dir, 'relay.yaml'), '--secret-file', 'mine', '--print-config'], elsewhere);
    expect(parse(flagged.stdout)).toMatchObject({ 'secret-file': join(elsewhere, 'mine') });
  });

  it('refuses an unknown key, a wrong type and bad YAML with one E_BAD_INPUT line each', async () => {
    const dir = tempDir();
    const cases: [string, RegExp][] = [
      ['lisen: 127.0.0.1:1\n', /unknown key "lisen"/],
      ['json: "yes"\n', /"json" must be true or false/],
      ['listen: [1, {a: 1}]\n', /"listen" must be a string or a list of strings/],
      ['listen: [unclosed\n', /is not valid YAML/],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, text);
      const result = await run(['relay', '--config', file, '--secret', SECRET]);
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/\(E_BAD_INPUT\)\n$/);
    }
  });

  it('names the flag whose address is taken', async () => {
    const busy = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => busy.close());
    const taken = `127.0.0.1:${busy.addresses.public.port}`;
    const listen = await run(['relay', '--secret', SECRET, '--listen', taken, '--tunnel', '127.0.0.1:0']);
    expect(listen.stderr).toBe(`mproxy: --listen ${taken}: address already in use (EADDRINUSE)\n`);
    const tunnel = `127.0.0.1:${busy.addresses.tunnel.port}`;
    const result = await run(['relay', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', tunnel]);
    expect(result.stderr).toBe(`mproxy: --tunnel ${tunnel}: address already in use (EADDRINUSE)\n`);
  });
});

describe('mproxy device: --config, --token-file', () => {
  it('serves the same from a YAML file (token in a file) as from flags', async () => {
    const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());
    const local = await localService();
    const dir = tempDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${await issueToken(SECRET, { domains: ['same.localhost'], sub: 'same' })}\n`);
    const forward = `http:same.localhost=127.0.0.1:${local}`;
    const config = join(dir, 'device.yaml');
    writeFileSync(config, [`relay: ${relay.tunnelUrl}`, `token-file: ${tokenFile}`, 'forward:', `  - ${forward}`, 'json: true', ''].join('\n'));
    const flags = ['device', '--relay', relay.tunnelUrl, '--token-file', tokenFile, '--forward', forward, '--json'];

    // The same resolved configuration...
    const fromFileConfig = parse((await run(['device', '--config', config, '--print-config'])).stdout) as Record<string, unknown>;
    const fromFlagsConfig = parse((await run([...flags, '--print-config'])).stdout) as Record<string, unknown>;
    expect(fromFileConfig).toEqual(fromFlagsConfig);

    // ...serves the same: the same lines, and the same answers (one device at a time).
    const serving = /serving [^\n"]+/;
    const viaFlags = await startUntil(flags, serving);
    expect(await httpGet(relay.addresses.public.port, 'same.localhost')).toContain('served same.localhost');
    const flagsChild = children.pop() as ChildProcess;
    await new Promise((resolve) => {
      flagsChild.once('exit', resolve);
      flagsChild.kill('SIGINT');
    });
    await until(() => relay.deviceCount === 0, 'the first device to leave');
    const viaFile = await startUntil(['device', '--config', config], serving);
    expect(viaFile.match[0]).toBe(viaFlags.match[0]);
    expect(viaFile.match[0]).toBe(`serving http://same.localhost → 127.0.0.1:${local}`);
    expect(await httpGet(relay.addresses.public.port, 'same.localhost')).toContain('served same.localhost');
    // Read after a visitor was served: the grant (and any notice about it) has been handled.
    expect(viaFile.output()).not.toMatch(/gets no visitors/);

    const printed = await run(['device', '--config', config, '--token', 'secret-token-value', '--print-config']);
    expect(printed.stdout).not.toContain('secret-token-value');
    expect(parse(printed.stdout)).toMatchObject({ relay: relay.tunnelUrl, 'token-file': [tokenFile], forward: [forward] });
  });

  it('says "could not connect" and asks about the --tunnel port when pointed at the visitor port', async () => {
    const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET });
    defer(() => relay.close());
    const token = await issueToken(SECRET, { domains: ['a.localhost'] });
    const url = `ws://127.0.0.1:${relay.addresses.public.port}`;
    const device = await startUntil(['device', '--relay', url, '--token', token, '--forward', 'http:a.localhost=1', '--json'], /could not connect[^\n]*\n/);
    expect(device.output()).toMatch(/"err":"ws:\/\/127\.0\.0\.1:\d+ answered HTTP 502 instead of a WebSocket upgrade: is this the relay's --tunnel port\? \(E_RELAY_UNREACHABLE\)"/);
    expect(device.output()).not.toMatch(/connection lost/);
  });
});
