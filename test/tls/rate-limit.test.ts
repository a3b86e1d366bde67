/**
 * A CA that answers 429 with Retry-After: the order fails with one log line carrying the
 * CA's retry time, and the next order waits for it. The CA here is a local HTTPS server that
 * rate-limits everything (Pebble has no rate limits to trigger).
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AcmeCertificates } from '../../src/tls/index.js';
import { defer, listen, memoryLogger, selfSignedCertificate, until } from '../support/index.js';


describe('an ACME server that rate-limits', () => {
  it('logs E_ACME_RATE_LIMITED once with the retry time it asked for, and does not ask again before it', async () => {
    const pems = await selfSignedCertificate('localhost');
    let requests = 0;
    const server = createServer({ key: pems.key, cert: pems.cert }, (_req, res) => {
      requests += 1;
      res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '3600' });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates already issued' }));
    });
    const port = await listen(server, defer);
    const log = memoryLogger();
    const acme = new AcmeCertificates(
      ['limited.example.test'],
      { email: 'me@example.test', directory: `https://localhost:${port}/dir`, ca: pems.cert, certDir: mkdtempSync(join(tmpdir(), 'mproxy-rl-')), retryInitialDelay: 10, retryMaxDelay: 10 },
      log,
    );
    defer(() => acme.close());
    const started = Date.now();
    acme.start();
    await until(() => log.entries.some((entry) => entry.context.code === 'E_ACME_RATE_LIMITED'), 'the rate limit logged', 10_000);
    const failures = log.entries.filter((entry) => /certificate order failed/.test(entry.message));
    expect(failures).toHaveLength(1);
    expect(failures[0]?.message).toMatch(/too many certificates already issued/);
    const retryAt = Date.parse(String(failures[0]?.context.retryAt));
    expect(retryAt - started).toBeGreaterThanOrEqual(3599_000);
    expect(acme.current('limited.example.test')).toBeUndefined();
    // The 10 ms backoff would have asked again many times by now: the CA's hour holds.
    const seen = requests;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(requests).toBe(seen);
  });
});
