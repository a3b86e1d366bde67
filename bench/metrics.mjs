// Metrics benchmark: tunnel throughput with live metrics on versus off, in the same run.
//
// A relay and a device in this process, a claimed TCP port forwarded to a local sink; VISITORS
// visitors each write TOTAL / VISITORS bytes in CHUNK-byte writes (waiting for 'drain'), and the
// clock stops when the sink has counted every byte. "on": relay and device made with
// `metrics: true`, and both registries scraped every SCRAPE_MS while the bytes flow (100 ms by
// default, BENCH_METRICS_SCRAPE_MS: hundreds of times what Prometheus does; the scrapes' count
// and time are in the row's detail). "off": the same without metrics. Each round measures both
// (order alternating, at least six rounds) on a fresh relay and device; each keeps its best round.
import { once } from 'node:events';
import net from 'node:net';
import * as mproxy from '../dist/index.js';
import { alternatingRounds, bestBytesPerSecond, cpuMs, throughputSummary } from './lib/measure.mjs';

const { createDevice, createRelay, issueToken } = mproxy;

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const VISITORS = 10;
const TOTAL = Number(process.env.BENCH_METRICS_MIB ?? 256) * MiB;
const SCRAPE_MS = Number(process.env.BENCH_METRICS_SCRAPE_MS ?? 100);
const TARGET = 0.95;
const SECRET = 'bench-secret-of-32-bytes-or-more!!';

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

async function freePort() {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function measure(withMetrics) {
  let received = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const sink = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received >= TOTAL) done();
    });
  });
  const sinkPort = await listen(sink);
  const port = await freePort();
  const relay = await createRelay({ listen: '127.0.0.1:0', tunnel: '127.0.0.1:0', secret: SECRET, tcpPorts: String(port), metrics: withMetrics });
  const token = await issueToken(SECRET, { ports: [port] });
  const device = createDevice({ relay: relay.tunnelUrl, token, forwards: [`tcp:${port}=127.0.0.1:${sinkPort}`], reconnect: false, metrics: withMetrics });
  await device.online();
  while (!relay.ports.tcp.includes(port)) await new Promise((resolve) => setImmediate(resolve));
  const visitors = await Promise.all(
    Array.from({ length: VISITORS }, async () => {
      const socket = net.connect({ host: '127.0.0.1', port });
      await once(socket, 'connect');
      return socket;
    }),
  );
  const scrapes = [];
  let scrapeMs = 0;
  const scrape = async () => {
    const start = performance.now();
    await Promise.all([relay.metrics.registry.metrics(), device.metrics.registry.metrics()]);
    scrapeMs += performance.now() - start;
  };
  const scraper = withMetrics ? setInterval(() => scrapes.push(scrape()), SCRAPE_MS) : undefined;
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    visitors.map(async (socket) => {
      for (let sent = 0; sent < TOTAL / VISITORS; sent += CHUNK) {
        if (!socket.write(chunk)) await once(socket, 'drain');
      }
    }),
  );
  await finished;
  const ms = performance.now() - t0;
  const cpu = cpuMs(process.cpuUsage(cpu0));
  if (scraper) clearInterval(scraper);
  await Promise.all(scrapes);
  for (const socket of visitors) socket.destroy();
  await device.close();
  await relay.close();
  await new Promise((resolve) => sink.close(resolve));
  return { bytes: TOTAL, ms, cpuMs: cpu, scrapes: scrapes.length, scrapeMs: Math.round(scrapeMs * 10) / 10 };
}

export async function run(ctx) {
  const row = { group: 'metrics', case: `tunnel throughput, metrics on (scraped every ${SCRAPE_MS} ms) vs off, ${VISITORS} visitors` };
  if (ctx.filter && !`${row.group} ${row.case}`.includes(ctx.filter)) return [];
  const samples = await alternatingRounds({ on: () => measure(true), off: () => measure(false) }, Math.max(6, ctx.rounds), (name, m, round) =>
    ctx.log(`  metrics ${name} round ${round + 1}: ${((m.bytes / (m[ctx.clock === 'wall' ? 'ms' : 'cpuMs'] / 1000)) / 1e6).toFixed(1)} MB/s`),
  );
  const clock = ctx.clock === 'wall' ? 'ms' : 'cpuMs';
  return [
    {
      ...row,
      mproxy: bestBytesPerSecond(samples.on, clock),
      baseline: bestBytesPerSecond(samples.off, clock),
      unit: ctx.clock === 'wall' ? 'B/s' : 'B/s of CPU',
      target: TARGET,
      detail: {
        on: throughputSummary(samples.on, clock),
        off: throughputSummary(samples.off, clock),
        scrapes: samples.on.map((m) => `${m.scrapes} scrapes, ${m.scrapeMs} ms`),
      },
    },
  ];
}
