import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeErrorBody, encodeFrame, type FrameInit } from '../../src/index.js';
import { CLI_PATH as CLI, expectOneLineError, runCli } from '../support/index.js';


const run = (args: string[], stdin?: Uint8Array) => runCli(args, { stdin });

const text = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const client = { family: 'IPv4', address: '10.0.0.7', port: 33046 };
const FRAMES: FrameInit[] = [
  { kind: 'control', data: text('[1,"hello",[1],["add_token"]]') },
  { kind: 'connection', ...client, service: 'https', serviceport: 8443, name: 'example.com' },
  { kind: 'data', ...client, service: 'https', serviceport: 8443, name: 'example.com', data: text('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n') },
  { kind: 'data', ...client, data: Uint8Array.from({ length: 40 }, (_, i) => i * 6) },
  { kind: 'pause', ...client },
  { kind: 'resume', ...client },
  { kind: 'error', ...client, data: encodeErrorBody({ message: 'connect ECONNREFUSED 127.0.0.1:443', code: 'ECONNREFUSED' }) },
  { kind: 'end', ...client },
];
const EXPECTED_TEXT = [
  'control len=29 text="[1,\\"hello\\",[1],[\\"add_token\\"]]"',
  'connection IPv4,10.0.0.7,33046 service=https serviceport=8443 name=example.com len=0',
  'data IPv4,10.0.0.7,33046 service=https serviceport=8443 name=example.com len=37 text="GET / HTTP/1.1\\r\\nHost: example.co"...',
  'data IPv4,10.0.0.7,33046 len=40 hex=00060c12181e242a30363c42484e545a60666c72787e848a90969ca2a8aeb4ba...',
  'pause IPv4,10.0.0.7,33046 len=0',
  'resume IPv4,10.0.0.7,33046 len=0',
  'error IPv4,10.0.0.7,33046 len=70 code=ECONNREFUSED message="connect ECONNREFUSED 127.0.0.1:443"',
  'end IPv4,10.0.0.7,33046 len=0',
];
const STREAM = Buffer.concat(FRAMES.map((frame) => encodeFrame(frame)));

let dir: string;
let streamFile: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npx tsup` first (`npm test` builds before testing)');
  dir = await mkdtemp(path.join(os.tmpdir(), 'mproxy-cli-inspect-'));
  streamFile = path.join(dir, 'stream.bin');
  await writeFile(streamFile, STREAM);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('mproxy inspect', () => {
  it('prints one readable line per frame', async () => {
    expect(await run(['inspect', streamFile])).toEqual({ code: 0, stdout: `${EXPECTED_TEXT.join('\n')}\n`, stderr: '' });
  });

  it('reads stdin for -', async () => {
    expect(await run(['inspect', '-'], STREAM)).toEqual({ code: 0, stdout: `${EXPECTED_TEXT.join('\n')}\n`, stderr: '' });
  });

  it('prints JSON lines with the whole body in base64 with --json', async () => {
    const result = await run(['inspect', '--json', streamFile]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.kind)).toEqual(FRAMES.map((frame) => frame.kind));
    expect(lines[1]).toEqual({
      kind: 'connection',
      id: 'IPv4,10.0.0.7,33046',
      family: 'IPv4',
      address: '10.0.0.7',
      port: 33046,
      service: 'https',
      serviceport: 8443,
      name: 'example.com',
      length: 0,
      data: '',
    });
    FRAMES.forEach((frame, i) => {
      expect(Buffer.from(lines[i]!.data as string, 'base64')).toEqual(Buffer.from(frame.data ?? []));
    });
    expect(lines[6]!.error).toEqual({ message: 'connect ECONNREFUSED 127.0.0.1:443', code: 'ECONNREFUSED' });
  });

  it('streams a large input in chunks, frames straddling them', async () => {
    const body = new Uint8Array(1000).fill(0x61);
    const many = Buffer.concat(Array.from({ length: 3000 }, (_, i) => encodeFrame({ kind: 'data', ...client, port: i, data: body })));
    const file = path.join(dir, 'many.bin');
    await writeFile(file, many);
    const result = await run(['inspect', file]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3000);
    expect(lines[2999]).toBe(`data IPv4,10.0.0.7,2999 len=1000 text="${'a'.repeat(32)}"...`);
  });

  it('fails with one line on input that is not M-PROXY', async () => {
    const result = await run(['inspect', '-'], text('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'));
    expectOneLineError(result, 'E_BAD_VERSION');
    expect(result.stdout).toBe('');
  });

  it('prints the frames before a protocol error, then the error', async () => {
    const result = await run(['inspect', '-'], Buffer.concat([STREAM, Buffer.from([0xfe, 3, 0x61, 0x2c, 0x62])]));
    expect(result.stdout).toBe(`${EXPECTED_TEXT.join('\n')}\n`);
    expectOneLineError(result, 'E_BAD_HEADER');
  });

  it('prints the frames of a truncated stream, then E_TRUNCATED', async () => {
    const result = await run(['inspect', '-'], STREAM.subarray(0, STREAM.length - 1));
    expect(result.stdout).toBe(`${EXPECTED_TEXT.slice(0, -1).join('\n')}\n`);
    expectOneLineError(result, 'E_TRUNCATED');
  });

  it('applies --max-frame-size before reading a body', async () => {
    const result = await run(['inspect', '--max-frame-size', '30', streamFile]);
    expect(result.stdout).toBe(`${EXPECTED_TEXT.slice(0, 2).join('\n')}\n`);
    expectOneLineError(result, 'E_FRAME_TOO_LARGE');
    expectOneLineError(await run(['inspect', '--max-frame-size', 'lots', streamFile]), 'E_USAGE');
  });

  it('fails with one line for a missing file', async () => {
    expectOneLineError(await run(['inspect', path.join(dir, 'nothing.bin')]), 'ENOENT');
  });

  it('prints nothing and succeeds for an empty stream', async () => {
    expect(await run(['inspect', '-'], new Uint8Array(0))).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
