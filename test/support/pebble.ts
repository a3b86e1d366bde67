/**
 * A real ACME server for the tests: Debian's `pebble`, with `pebble-challtestsrv` as its DNS
 * answering 127.0.0.1 for every name. Pebble validates http-01 and tls-alpn-01 on one port
 * (`validationPort`): the relay's visitor port, so validation travels like any visitor.
 * Each instance has its own ports and its own TLS certificate; its issuing root changes at
 * every start (`root()` fetches the current one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, selfSignedCertificate } from './index.js';

export interface Pebble {
  readonly directory: string;
  /** Pebble's own TLS certificate: what an ACME client trusts to talk to it. */
  readonly ca: string;
  /** The root that signs the certificates of the current run. */
  root(): Promise<string>;
  /** Starts Pebble (again, on the same ports). */
  start(): Promise<void>;
  /** Stops Pebble; it forgets its accounts and orders. */
  stop(): Promise<void>;
}

export interface ChallTestSrv {
  readonly dnsPort: number;
  stop(): Promise<void>;
}

/** Starts the DNS that answers 127.0.0.1 for every name. */
export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort('udp');
  const management = await freePort();
  const child = spawn(
    'pebble-challtestsrv',
    ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${management}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForOutput(child, /Starting management server/, 'pebble-challtestsrv');
  return { dnsPort, stop: () => stopChild(child) };
}

let pebbleTls: Promise<{ key: string; cert: string }> | undefined;

/** Prepares a Pebble that validates on `validationPort`, resolving names through `dnsPort`. */
export async function createPebble(validationPort: number, dnsPort: number): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'mproxy-pebble-'));
  // One certificate for every Pebble of a test file: certificates with the same subject and
  // different keys would confuse a process that trusts several (OpenSSL picks by name).
  pebbleTls ??= selfSignedCertificate('127.0.0.1', { ip: true });
  const pems = await pebbleTls;
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.key);
  const listen = await freePort();
  const management = await freePort();
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: validationPort,
        tlsPort: validationPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let child: ChildProcess | undefined;
  return {
    directory: `https://127.0.0.1:${listen}/dir`,
    ca: pems.cert,
    root: () => fetchText(`https://127.0.0.1:${management}/roots/0`, pems.cert),
    async start() {
      if (child) return;
      child = spawn('pebble', ['-config', join(dir, 'config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      });
      await waitForOutput(child, /ACME directory available|Listening on/i, 'pebble');
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running) await stopChild(running);
    },
  };
}

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`${what} did not start within 10 s: ${seen}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (pattern.test(seen)) done();
    };
    const onExit = (code: number | null): void => done(new Error(`${what} exited (${code}) at start: ${seen}`));
    const onError = (error: Error): void => done(new Error(`${what} cannot start (apt-get install -y pebble): ${error.message}`));
    function done(error?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining its output: a full pipe would stop it.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** A `lookup` for sockets that resolves every name to 127.0.0.1, as the CA's DNS here does. */
export function lookupLoopback(_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void): void {
  if (options?.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}
