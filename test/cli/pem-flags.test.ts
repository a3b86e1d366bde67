import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCertificateFlag, readKeyPairFlags } from '../../src/cli/pem-flags.js';
import { defer, selfSignedCertificate } from '../support/index.js';

/** The files a user would point the flags at. */
async function files(): Promise<Record<'cert' | 'key' | 'otherKey' | 'secret', string>> {
  const dir = mkdtempSync(join(tmpdir(), 'mproxy-pem-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const [mine, other] = await Promise.all([selfSignedCertificate('relay.localhost'), selfSignedCertificate('other.localhost')]);
  const write = (name: string, text: string | Buffer): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  return {
    cert: write('relay.pem', mine.cert),
    key: write('relay.key', mine.key),
    otherKey: write('other.key', other.key),
    secret: write('relay.secret', 'c0ffee'.repeat(10)),
  };
}

describe('certificate and key flags', () => {
  it('reads a certificate and the key that belongs to it', async () => {
    const f = await files();
    expect(readCertificateFlag(f.cert, '--ca').toString()).toContain('BEGIN CERTIFICATE');
    expect(readKeyPairFlags(f.cert, f.key, '--tunnel-cert', '--tunnel-key').key.toString()).toContain('PRIVATE KEY');
  });

  it('names the flag and the file that holds no certificate, no key, or the wrong key', async () => {
    const f = await files();
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return { code: (error as { code?: string }).code, message: (error as Error).message };
      }
      throw new Error('not refused');
    };
    expect(refusal(() => readCertificateFlag(f.secret, '--ca'))).toEqual({ code: 'E_BAD_INPUT', message: `--ca ${f.secret} holds no PEM certificate` });
    expect(refusal(() => readKeyPairFlags(f.secret, f.key, '--tunnel-cert', '--tunnel-key'))).toEqual({
      code: 'E_BAD_INPUT',
      message: `--tunnel-cert ${f.secret} holds no PEM certificate`,
    });
    expect(refusal(() => readKeyPairFlags(f.cert, f.cert, '--tunnel-cert', '--tunnel-key'))).toEqual({
      code: 'E_BAD_INPUT',
      message: `--tunnel-key ${f.cert} holds no PEM private key`,
    });
    expect(refusal(() => readKeyPairFlags(f.cert, f.otherKey, '--tunnel-cert', '--tunnel-key'))).toEqual({
      code: 'E_BAD_INPUT',
      message: `--tunnel-key ${f.otherKey} is not the key of the certificate in --tunnel-cert ${f.cert}`,
    });
  });
});
