/** The certificate flags of `mproxy device` and `mproxy relay`: refusals are one line with a code. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../support/index.js';

async function expectError(args: string[], code: string, message?: RegExp): Promise<void> {
  const result = await run(args);
  expect(result.code).toBe(1);
  const last = result.stderr.trimEnd().split('\n').at(-1) ?? '';
  expect(last).toMatch(new RegExp(`^mproxy: .+ \\(${code}\\)$`));
  if (message) expect(last).toMatch(message);
}

describe('certificate flags', () => {
  const device = ['device', '--relay', 'ws://127.0.0.1:1', '--token', 't', '--no-reconnect', '--log-level', 'silent'];
  const terminated = ['--forward', 'https:app.example.com=http://127.0.0.1:3000'];

  it('refuses an unwritable --cert-dir, a wildcard for ACME, a terminated name without a certificate, and ACME flags without --acme-email', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mproxy-cli-')), 'file');
    writeFileSync(file, '');
    // Each is a process of its own: started together, they cost the time of one.
    await Promise.all([
      expectError([...device, ...terminated, '--acme-email', 'me@example.com', '--cert-dir', join(file, 'certs')], 'E_INVALID_OPTION', /cert dir/),
      expectError([...device, '--forward', 'https:*.example.com=http://127.0.0.1:3000', '--acme-email', 'me@example.com', '--cert-dir', tmpdir()], 'E_ACME_WILDCARD', /dns-01/),
      expectError([...device, ...terminated], 'E_INVALID_OPTION', /--acme-email/),
      expectError([...device, ...terminated, '--acme-staging'], 'E_USAGE', /needs --acme-email/),
      expectError([...device, ...terminated, '--cert', 'app.example.com=/nonexistent/cert.pem,/nonexistent/key.pem'], 'E_INVALID_OPTION', /cert for app\.example\.com/),
      expectError(['relay', '--secret', 'tls-flags-secret-of-32-bytes-or-more', '--tunnel-acme', 'relay.example.com'], 'E_USAGE', /needs --acme-email/),
    ]);
  });

  it('lists them in --help', async () => {
    const [device, relay] = await Promise.all([run(['device', '--help']), run(['relay', '--help'])]);
    for (const flag of ['--acme-email', '--acme-directory', '--acme-staging', '--acme-ca', '--cert-dir', '--cert <rule>']) expect(device.stdout).toContain(flag);
    expect(relay.stdout).toContain('--tunnel-acme');
  });
});
