import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defer, runCli, stopChild } from '../support/index.js';
import { call, parseMetrics, valueOf } from './helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SECRET = 'cli-test-secret-of-32-bytes-or-more';

describe('mproxy relay --admin', () => {
  it('serves /metrics on loopback, and refuses to listen elsewhere without --admin-token-file', async () => {
    const child = spawn(process.execPath, [CLI, 'relay', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--secret', SECRET, '--admin', '127.0.0.1:0', '--accept-proxy-protocol', '10.0.0.0/8,::1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    defer(() => stopChild(child));
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*admin listener ready/.exec(output);
        if (match) resolve(match[1] as string);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
    const { status, body } = await call(`${url}/metrics`);
    expect(status).toBe(200);
    expect(valueOf(parseMetrics(body), 'mproxy_devices_connected')).toBe(0);

    const refused = await runCli(['relay', '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--secret', SECRET, '--admin', '0.0.0.0:0']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^mproxy: --admin 0\.0\.0\.0:0 is not on loopback: give --admin-token-file \(E_USAGE\)$/m);
  });
});
