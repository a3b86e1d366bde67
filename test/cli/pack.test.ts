import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI_PATH as CLI, defer, expectOneLineError, runCli } from '../support/index.js';
import { FrameDecoder } from '../../src/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/sni-hello/', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type PackerMeta = Record<string, unknown>;
const Packer = createRequire(import.meta.url)('proxy-packer') as { pack(meta: PackerMeta, data: Buffer): Buffer };

const run = (args: string[], cwd?: string) => runCli(args, { cwd });

let dir: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npx tsup` first (`npm test` builds before testing)');
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mproxy-cli-pack-'));
  const made = dir;
  defer(() => rm(made, { recursive: true, force: true }));
});

async function packInput(name: string, address: PackerMeta, data: Buffer | string, extra: PackerMeta = {}): Promise<string> {
  await writeFile(path.join(dir, `${name}.bin`), data);
  const input = path.join(dir, `${name}.json`);
  await writeFile(input, JSON.stringify({ version: 1, address, filepath: `./${name}.bin`, ...extra }));
  return input;
}

describe('mproxy pack', () => {
  it("writes the reference's 253 bytes for the README's ClientHello", async () => {
    // cwd is not the fixture directory: filepath must resolve against the JSON file.
    const result = await run(['pack', path.join(FIXTURES, 'input.json'), 'out.bin'], dir);
    expect(result).toEqual({ code: 0, stdout: "wrote 253 bytes to 'out.bin'\n", stderr: '' });
    expect(await readFile(path.join(dir, 'out.bin'))).toEqual(await readFile(path.join(FIXTURES, 'expected.bin')));
  });

  it('names an HTTP request by its Host, lowercased and without port, as the reference does', async () => {
    const body = 'GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: WWW.Example.com:8080\r\n\r\n';
    const address = { family: 'IPv6', address: '::1', port: 50123, service: 'http', serviceport: 80 };
    const input = await packInput('req', address, body);
    const output = path.join(dir, 'req.out');
    const result = await run(['pack', input, output]);
    expect(result.code).toBe(0);
    const written = await readFile(output);
    expect(written).toEqual(Packer.pack({ ...address, name: 'www.example.com' }, Buffer.from(body)));
    const [frame] = new FrameDecoder().push(written);
    expect(frame).toMatchObject({ kind: 'data', name: 'www.example.com', service: 'http', port: 50123 });
  });

  it("sends one space for an empty file and no name when there is neither SNI nor Host, as Packer.pack", async () => {
    const address = { family: 'IPv4', address: '10.0.0.7', port: '33046', service: 'tcp', serviceport: 0 };
    const input = await packInput('empty', address, '');
    const output = path.join(dir, 'empty.out');
    expect((await run(['pack', input, output])).stdout).toBe(`wrote 30 bytes to '${output}'\n`);
    expect(await readFile(output)).toEqual(Packer.pack({ ...address, name: '' }, Buffer.alloc(0)));
    expect((await readFile(output)).toString('latin1')).toBe('\xfe\x1bIPv4,10.0.0.7,33046,1,tcp,, ');
  });

  it('fails with one line and no output file for a missing, non-JSON or invalid input', async () => {
    const output = path.join(dir, 'never.bin');
    expectOneLineError(await run(['pack', path.join(dir, 'missing.json'), output]), 'ENOENT');

    await writeFile(path.join(dir, 'broken.json'), '{ "version": 1, ');
    expectOneLineError(await run(['pack', path.join(dir, 'broken.json'), output]), 'E_BAD_INPUT');

    const good = { family: 'IPv4', address: '1.2.3.4', port: 1 };
    const invalid: Array<[string, PackerMeta, PackerMeta, string]> = [
      ['no address', {}, { address: undefined }, 'E_BAD_INPUT'],
      ['a port out of range', { ...good, port: 70_000 }, {}, 'E_BAD_INPUT'],
      ['a non-canonical port', { ...good, port: '0443' }, {}, 'E_BAD_INPUT'],
      ['version 2', good, { version: 2 }, 'E_BAD_INPUT'],
      ['no filepath', good, { filepath: 7 }, 'E_BAD_INPUT'],
      ['a comma in the address', { ...good, address: '1,2' }, {}, 'E_INVALID_FIELD'],
      ['a service that is a frame kind', { ...good, service: 'control' }, {}, 'E_INVALID_FRAME'],
    ];
    for (const [what, address, extra, code] of invalid) {
      const input = await packInput('bad', address, 'x', extra);
      const result = await run(['pack', input, output]);
      expect(result.stderr, what).toContain(`(${code})`);
      expectOneLineError(result, code);
    }
    const noData = path.join(dir, 'nodata.json');
    await writeFile(noData, JSON.stringify({ address: good, filepath: 'nowhere.bin' }));
    expectOneLineError(await run(['pack', noData, output]), 'ENOENT');
    expect(existsSync(output)).toBe(false);
  });

  it('fails with a usage line when an argument is missing', async () => {
    const result = await run(['pack', 'only-one.json']);
    expectOneLineError(result, 'E_USAGE');
    expect(result.stderr).toContain("missing required argument 'output.bin'");
  });
});

describe('mproxy --help and --version', () => {
  it('prints the version from package.json', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await run([flag])).toEqual({ code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
    }
  });

  it('lists the commands, and each command has its own help', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mproxy /);
    expect(help.stdout).toMatch(/^\s+pack <input\.json> <output\.bin>/m);
    expect(help.stdout).toMatch(/^\s+inspect \[options\] <file>/m);
    const inspectHelp = await run(['inspect', '--help']);
    expect(inspectHelp.code).toBe(0);
    expect(inspectHelp.stdout).toContain('--json');
  });

  it('refuses an unknown command with one line', async () => {
    const result = await run(['frobnicate']);
    expectOneLineError(result, 'E_USAGE');
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});
