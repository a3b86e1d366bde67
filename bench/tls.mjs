// TLS termination benchmark: one visitor downloads TOTAL bytes over https from a plain HTTP app
// on 127.0.0.1, through mproxy (createRelay + createDevice with `https:NAME=http://…` and a
// certificate of its own: the device terminates TLS and speaks HTTP/1.1 to the app) against the
// same hops built without the tunnel: a node:net pipe where the relay is, then an https server
// that terminates TLS the same way (node:https with the same certificate, HTTP/1.1 to the app
// through a keep-alive agent), all in this one process. Fresh paths per round, configurations
// alternating from round to round, each keeping its best round; rates on the process's CPU
// time (BENCH_CLOCK=wall for wall time), both clocks in `detail`.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { createDevice, createRelay, issueToken } from '../dist/index.js';
import { listen } from './lib/e2e-paths.mjs';
import { alternatingRounds, bestBytesPerSecond, cpuMs, throughputSummary } from './lib/measure.mjs';
import { selfSignedCertificate } from '../test/support/certificate.mjs';

const MiB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_TLS_MIB ?? 128) * MiB;
const WARMUP = 16 * MiB;
const NAME = 'app.localhost';
const HOST = '127.0.0.1';
const SECRET = 'tls-bench-secret-of-32-bytes-or-more';

/** The app: GET /N answers N bytes of a repeated 64 KiB block. */
async function startApp() {
  const block = Buffer.alloc(64 * 1024, 0x61);
  return listen(
    http.createServer((req, res) => {
      let left = Number(req.url.slice(1));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const more = () => {
        while (left > 0) {
          const chunk = left >= block.length ? block : block.subarray(0, left);
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    }),
  );
}

async function startMproxy(appPort, certs) {
  const relay = await createRelay({ listen: `${HOST}:0`, tunnel: `${HOST}:0`, secret: SECRET });
  const device = createDevice({
    relay: relay.tunnelUrl,
    reconnect: false,
    token: await issueToken(SECRET, { domains: [NAME] }),
    forwards: [`https:${NAME}=http://${HOST}:${appPort}`],
    tls: { certs: [`${NAME}=${certs.cert},${certs.key}`] },
  });
  await device.online();
  return {
    port: relay.addresses.public.port,
    close: async () => {
      await device.close();
      await relay.close();
    },
  };
}

async function startBaseline(appPort, pems) {
  const agent = new http.Agent({ keepAlive: true });
  const terminator = await listen(
    https.createServer({ key: pems.key, cert: pems.cert }, (req, res) => {
      const upstream = http.request({ host: HOST, port: appPort, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-proto': 'https' }, agent }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    }),
  );
  const pipe = await listen(
    net.createServer((socket) => {
      socket.setNoDelay(true);
      const next = net.connect({ host: HOST, port: terminator.port, noDelay: true });
      socket.pipe(next).pipe(socket);
      socket.on('error', () => next.destroy());
      next.on('error', () => socket.destroy());
    }),
  );
  return {
    port: pipe.port,
    close: async () => {
      await pipe.close();
      await terminator.close();
      agent.destroy();
    },
  };
}

/** Downloads `bytes` over https from `port` (trusting only the certificate); resolves once all arrived. */
function download(port, ca, bytes) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: HOST, port, servername: NAME, headers: { host: NAME }, path: `/${bytes}`, ca, agent: false }, (res) => {
      let got = 0;
      res.on('data', (chunk) => (got += chunk.length));
      res.on('end', () => (got === bytes ? resolve() : reject(new Error(`got ${got} of ${bytes} bytes`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export async function run(ctx) {
  const pems = await selfSignedCertificate(NAME);
  const dir = mkdtempSync(joinPath(tmpdir(), 'mproxy-bench-tls-'));
  const certs = { cert: joinPath(dir, 'cert.pem'), key: joinPath(dir, 'key.pem') };
  writeFileSync(certs.cert, pems.cert);
  writeFileSync(certs.key, pems.key);
  const app = await startApp();
  const transfer = (start) => async () => {
    const path = await start();
    try {
      await download(path.port, pems.cert, WARMUP);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await download(path.port, pems.cert, TOTAL);
      return { bytes: TOTAL, ms: performance.now() - t0, cpuMs: cpuMs(process.cpuUsage(cpu0)) };
    } finally {
      await path.close();
    }
  };
  const name = `terminated https download, 1 visitor, ${TOTAL / MiB} MiB (vs TLS-terminating proxy in one process)`;
  if (ctx.filter && !`tls ${name}`.includes(ctx.filter)) return [];
  const samples = await alternatingRounds(
    { mproxy: transfer(() => startMproxy(app.port, certs)), baseline: transfer(() => startBaseline(app.port, pems)) },
    Math.max(2, ctx.rounds),
    (config, m, round) => ctx.log(`  ${config} round ${round + 1}: ${(m.bytes / MiB / (m.ms / 1000)).toFixed(1)} MiB/s wall, ${m.cpuMs.toFixed(0)} ms CPU`),
  );
  await app.close();
  const clock = ctx.clock === 'wall' ? 'ms' : 'cpuMs';
  const options = { otherClocks: { wallMBps: 'ms' } };
  return [
    {
      group: 'tls',
      case: name,
      mproxy: bestBytesPerSecond(samples.mproxy, clock),
      baseline: bestBytesPerSecond(samples.baseline, clock),
      unit: 'B/s',
      target: null,
      detail: { clock, mproxy: throughputSummary(samples.mproxy, clock, options), baseline: throughputSummary(samples.baseline, clock, options) },
    },
  ];
}
