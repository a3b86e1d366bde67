/**
 * The package as users install it: `npm pack`, then `npm install -g` of the tarball into an
 * empty prefix (dependencies from the registry, or npm's cache), then the installed `mproxy`:
 * `--version`, `demo` and its curl. The systemd units of docs/systemd are checked against the
 * installed binary with `systemd-analyze verify`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function exec(file: string, args: string[], options: { cwd?: string; timeout?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeout ?? 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

let dir = '';
let bin = '';
let demo: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mproxy-install-'));
  // `npm test` built dist/ already: packing without scripts keeps this test from building twice.
  const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error('npm pack gave no tarball');
  const paths = info.files.map((file) => file.path);
  expect(paths).toContain('dist/cli.js');
  expect(paths).toContain('package.json');
  expect(paths.filter((path) => !/^(dist\/|package\.json$|README\.md$|LICENSE$|CHANGELOG\.md$)/.test(path))).toEqual([]);
  const prefix = join(dir, 'prefix');
  const installed = await exec(
    'npm',
    ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', join(dir, info.filename)],
    { cwd: dir, timeout: 240_000 },
  );
  expect(installed.code, installed.stderr).toBe(0);
  bin = join(prefix, 'bin', 'mproxy');
}, 300_000);

afterAll(async () => {
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    const exited = new Promise((resolve) => demo?.once('exit', resolve));
    demo.kill('SIGINT');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack, npm install -g of the tarball', () => {
  it('installs a working mproxy: --version', async () => {
    const version = await exec(bin, ['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('runs mproxy demo, and its curl crosses the tunnel', async () => {
    const child = spawn(bin, ['demo', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    demo = child;
    const curl = await new Promise<string>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const match = /^ {2}(curl .+)$/m.exec(output);
        if (match) resolve(match[1] as string);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`demo exited ${code}: ${output}`)));
    });
    const [command, ...args] = curl.split(' ');
    const result = await exec(command as string, [...args, '--silent', '--show-error', '--max-time', '10']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Hello from the device's local HTTPS service, reached through mproxy/);
  });

  it('the systemd units of docs/systemd pass systemd-analyze verify with the installed binary', async () => {
    if ((await exec('sh', ['-c', 'command -v systemd-analyze'])).code !== 0) {
      throw new Error('systemd-analyze is needed to check docs/systemd: apt-get install systemd');
    }
    for (const unit of ['mproxy-relay.service', 'mproxy-device.service']) {
      const text = readFileSync(join(ROOT, 'docs', 'systemd', unit), 'utf8');
      expect(text).toContain('ExecStart=/usr/local/bin/mproxy ');
      const copy = join(dir, unit);
      writeFileSync(copy, text.replaceAll('/usr/local/bin/mproxy', bin));
      const verified = await exec('systemd-analyze', ['verify', copy], { cwd: dir });
      expect(verified.stderr, unit).toBe('');
      expect(verified.code, unit).toBe(0);
    }
  });
});
