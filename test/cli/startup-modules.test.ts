/**
 * What `mproxy relay` and `mproxy device` load when started without the features that need a
 * package: no cluster (ioredis), no metrics (prom-client), no terminal (pino-pretty), no config
 * file (yaml). Each costs a process several MiB and tens of milliseconds at start-up.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, SECRET, defer, expectUniqueLogKeys, runCli, stopChild, until } from '../support/index.js';
import { createRelay, issueToken } from '../../src/index.js';

const PROBE = fileURLToPath(new URL('../fixtures/loaded-packages.cjs', import.meta.url));
const OPTIONAL = ['ioredis', 'prom-client', 'pino-pretty', 'yaml'];

/** Starts the CLI with the probe, waits for `ready` in its JSON log, and returns what it loaded. */
async function loadedBy(args: string[], ready: RegExp): Promise<string[]> {
  const child = spawn(process.execPath, ['--require', PROBE, CLI_PATH, ...args, '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  defer(() => stopChild(child));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until(() => ready.test(stderr) || child.exitCode !== null, `${args[0]} to start`, 20_000);
  expect(child.exitCode, stderr).toBeNull();
  child.kill('SIGUSR2');
  await until(() => stderr.includes('"loadedPackages"'), 'the probe to answer', 10_000);
  const line = stderr.split('\n').find((l) => l.includes('"loadedPackages"')) as string;
  expectUniqueLogKeys(stderr);
  return (JSON.parse(line) as { loadedPackages: string[] }).loadedPackages;
}

describe('the CLI at start-up', () => {
  it('loads no package for a feature the relay was not given', async () => {
    const loaded = await loadedBy(['relay', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0'], /device endpoint ready/);
    expect(loaded).toContain('ws');
    for (const name of OPTIONAL) expect(loaded, name).not.toContain(name);
  });

  it('loads no package for a feature the device was not given', async () => {
    const relay = await createRelay({ secret: SECRET, listen: { host: '127.0.0.1', port: 0 }, tunnel: { host: '127.0.0.1', port: 0 } });
    defer(() => relay.close());
    const token = await issueToken(SECRET, { domains: ['app.localhost'] });
    const loaded = await loadedBy(['device', '--relay', relay.tunnelUrl, '--token', token, '--forward', 'http:app.localhost=127.0.0.1:1'], /serving/);
    expect(loaded).toContain('ws');
    for (const name of OPTIONAL) expect(loaded, name).not.toContain(name);
  });

  it('loads each of them with the feature that needs it', async () => {
    const loaded = await loadedBy(['relay', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--admin', '127.0.0.1:0'], /device endpoint ready/);
    expect(loaded).toContain('prom-client');
    expect(loaded).not.toContain('ioredis');
    // YAML, loaded when a configuration is printed.
    expect((await runCli(['relay', '--secret', SECRET, '--print-config'])).stdout).toMatch(/^tunnel: /m);
  });
});
