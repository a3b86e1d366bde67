// Tunnel benchmark: bytes per second through `createTunnel` over a TCP loopback transport.
//
// one client    one client opened on side A writes TOTAL bytes in CHUNK-byte writes, waiting
//               for `drain$` whenever `write()` returns false; side B's `client.data$` counts
//               them. Baseline: a raw node:net socket pair moving the same bytes in the same
//               writes, waiting for 'drain' whenever `socket.write()` returns false.
// 1000 clients  the same TOTAL bytes in the same CHUNK-byte writes, dealt round-robin over
//               CLIENTS clients, all opened (and accepted by side B) before the clock starts.
//               Baseline: the one-client tunnel of the same run.
//
// Wall time from the first write to the last byte counted on the far side, both ends in this
// process (so each side pays for sending and receiving). Every configuration runs on a fresh
// socket pair; each round measures all three configurations (order alternating), and each
// keeps its best round (see docs/performance.md, "tunnel").
import { firstValueFrom } from 'rxjs';
import * as mproxy from '../dist/index.js';
import { socketPair, within } from './lib/loopback.mjs';
import { alternatingRounds, bestBytesPerSecond, cpuMs, round2, throughputSummary } from './lib/measure.mjs';

const { createTunnel, fromSocket } = mproxy;

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const CLIENTS = 1000;
// A multiple of CLIENTS writes, so that every client of the wide case moves the same bytes.
const WRITES = Number(process.env.BENCH_TUNNEL_WRITES ?? 32 * CLIENTS);
const TOTAL = WRITES * CHUNK;
// The transport's default high watermark; the raw sockets get the same write buffer allowance.
const SOCKET_OPTIONS = { highWaterMark: 1 * MiB };
const TIMEOUT_MS = 60_000;
const TARGET_ONE = 0.7;
const TARGET_WIDE = 0.85;

/** Where a client comes from: the same header length for every client (5-digit ports). */
function metaFor(i) {
  return {
    family: 'IPv4',
    address: '203.0.113.7',
    port: 10000 + i,
    service: 'https',
    serviceport: 443,
    name: 'www.example.com',
  };
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function payload() {
  const chunk = Buffer.allocUnsafe(CHUNK);
  for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 31 + 7) & 0xff;
  return chunk;
}

// ---------------------------------------------------------------------------------------------
// Baseline: raw sockets

async function measureRaw(chunk) {
  const pair = await socketPair(SOCKET_OPTIONS);
  try {
    const { a, b } = pair;
    const done = deferred();
    let received = 0;
    b.on('data', (data) => {
      received += data.length;
      if (received >= TOTAL) done.resolve();
    });
    b.on('error', done.reject);
    a.on('error', done.reject);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < WRITES; i++) {
      if (!a.write(chunk)) await new Promise((resolve) => a.once('drain', resolve));
    }
    await within(done.promise, TIMEOUT_MS, 'raw socket transfer');
    const ms = performance.now() - t0;
    if (received !== TOTAL) throw new Error(`raw socket: received ${received} of ${TOTAL} bytes`);
    return { bytes: TOTAL, ms, cpuMs: cpuMs(process.cpuUsage(cpu0)) };
  } finally {
    await pair.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Tunnel

/**
 * Two tunnels over a socket pair, `count` clients opened on A and accepted on B, every client's
 * `data$` on B counted. Resolves once B has accepted them all.
 */
async function openTunnel(count, perClient, costCtx) {
  const pair = await socketPair(SOCKET_OPTIONS);
  const ta = createTunnel(fromSocket(pair.a));
  const tb = createTunnel(fromSocket(pair.b));
  const failed = deferred();
  const allAccepted = deferred();
  const allReceived = deferred();
  failed.promise.catch(() => {});
  const received = new Map();
  let total = 0;
  let accepted = 0;
  const fail = (where) => (error) => failed.reject(new Error(`${where}: ${error?.message ?? error}`, { cause: error }));
  tb.clients$.subscribe((client) => {
    received.set(client.id, 0);
    client.data$.subscribe({
      next: (data) => {
        received.set(client.id, received.get(client.id) + data.length);
        total += data.length;
        if (total >= perClient * count) allReceived.resolve();
      },
      error: fail(`client ${client.id} on B`),
    });
    if (++accepted === count) allAccepted.resolve();
  });
  for (const t of [ta, tb]) {
    t.closed$.subscribe(({ error }) => {
      if (error) fail('tunnel')(error);
    });
  }
  let before = 0;
  if (costCtx) {
    costCtx.gc();
    before = process.memoryUsage().heapUsed;
  }
  const t0 = performance.now();
  const clients = [];
  for (let i = 0; i < count; i++) clients.push(ta.open(metaFor(i)));
  await within(Promise.race([allAccepted.promise, failed.promise]), TIMEOUT_MS, `opening ${count} clients`);
  let cost;
  if (costCtx) {
    const openMs = performance.now() - t0;
    costCtx.gc();
    const heapBytesPerClient = Math.round((process.memoryUsage().heapUsed - before) / count);
    cost = { heapBytesPerClient, openMs: round2(openMs) };
  }

  const close = async () => {
    const closedA = firstValueFrom(ta.closed$);
    const closedB = firstValueFrom(tb.closed$);
    ta.close();
    await within(Promise.all([closedA, closedB]), TIMEOUT_MS, 'closing the tunnels').catch(() => {
      ta.destroy();
      tb.destroy();
    });
    await pair.close();
  };

  const check = () => {
    if (total !== perClient * count) throw new Error(`tunnel: received ${total} of ${perClient * count} bytes`);
    for (const [id, bytes] of received) {
      if (bytes !== perClient) throw new Error(`tunnel: client ${id} received ${bytes} of ${perClient} bytes`);
    }
  };
  const receivedAll = Promise.race([allReceived.promise, failed.promise]);
  return { clients, receivedAll, check, close, cost };
}

/** `writes` writes of `chunk`, dealt round-robin over `clients`, each waiting out a false write. */
async function pump(clients, chunk, writes) {
  const n = clients.length;
  for (let i = 0; i < writes; i++) {
    const client = clients[i % n];
    if (!client.write(chunk)) await firstValueFrom(client.drain$);
  }
}

async function measureTunnel(chunk, count) {
  const t = await openTunnel(count, TOTAL / count);
  try {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await pump(t.clients, chunk, WRITES);
    await within(t.receivedAll, TIMEOUT_MS, `tunnel transfer (${count} clients)`);
    const ms = performance.now() - t0;
    const cpu = cpuMs(process.cpuUsage(cpu0));
    t.check();
    return { bytes: TOTAL, ms, cpuMs: cpu };
  } finally {
    await t.close();
  }
}

async function checkContent(parts, perClient) {
  const pair = await socketPair(SOCKET_OPTIONS);
  const ta = createTunnel(fromSocket(pair.a));
  const tb = createTunnel(fromSocket(pair.b));
  try {
    const got = new Map();
    const complete = deferred();
    let ended = 0;
    tb.clients$.subscribe((client) => {
      const bufs = [];
      got.set(client.id, bufs);
      client.data$.subscribe({
        next: (data) => bufs.push(Buffer.from(data)),
        complete: () => {
          client.end();
          if (++ended === parts) complete.resolve();
        },
        error: complete.reject,
      });
    });
    const clients = [];
    const sent = [];
    for (let c = 0; c < parts; c++) {
      clients.push(ta.open(metaFor(c)));
      sent.push([]);
    }
    for (let k = 0; k < perClient; k++) {
      for (let c = 0; c < parts; c++) {
        const chunk = Buffer.allocUnsafe(CHUNK);
        for (let i = 0; i < CHUNK; i++) chunk[i] = (i * (k + 3) + c * 17) & 0xff;
        sent[c].push(chunk);
        if (!clients[c].write(chunk)) await firstValueFrom(clients[c].drain$);
      }
    }
    for (const client of clients) client.end();
    await within(complete.promise, TIMEOUT_MS, 'content check');
    for (let c = 0; c < parts; c++) {
      const expected = Buffer.concat(sent[c]);
      const actual = Buffer.concat(got.get(clients[c].id) ?? []);
      if (!expected.equals(actual)) {
        throw new Error(`tunnel content check: client ${clients[c].id} received different bytes`);
      }
    }
  } finally {
    const closedA = firstValueFrom(ta.closed$);
    const closedB = firstValueFrom(tb.closed$);
    ta.close();
    await within(Promise.all([closedA, closedB]), TIMEOUT_MS, 'closing the tunnels').catch(() => {
      ta.destroy();
      tb.destroy();
    });
    await pair.close();
  }
}

// ---------------------------------------------------------------------------------------------

/** @param {import('./run.mjs').BenchContext} ctx */
export async function run(ctx) {
  if (typeof createTunnel !== 'function' || typeof fromSocket !== 'function') {
    throw new Error('dist/index.js does not export createTunnel and fromSocket: build the library first (npx tsup)');
  }
  const cases = {
    one: `1 client, ${CHUNK / KiB} KiB writes (vs raw socket)`,
    wide: `${CLIENTS} clients, ${CHUNK / KiB} KiB writes round-robin (vs 1 client)`,
  };
  const wanted = (c) => !ctx.filter || `tunnel ${c}`.includes(ctx.filter);
  if (!wanted(cases.one) && !wanted(cases.wide)) return [];

  const chunk = payload();
  await checkContent(3, 8);

  // The one-client tunnel runs either way: it is the baseline of the wide case. No forced GC
  // between measurements: it shrinks the young generation, and regrowing it during the timed
  // transfer (GC helper threads against 2 cores) made the figures swing (see e2e).
  const configs = {};
  if (wanted(cases.one)) configs.raw = () => measureRaw(chunk);
  configs.one = () => measureTunnel(chunk, 1);
  if (wanted(cases.wide)) configs.wide = () => measureTunnel(chunk, CLIENTS);
  const rounds = Math.max(3, ctx.rounds);
  const samples = await alternatingRounds(configs, rounds, (name, m, round) =>
    ctx.log(`  tunnel round ${round + 1} ${name}: ${(m.bytes / 1e6 / (m.ms / 1000)).toFixed(0)} MB/s, ${m.ms.toFixed(0)} ms wall, ${m.cpuMs.toFixed(0)} ms CPU`),
  );
  // The heap an open client costs needs full GCs around it: measured after the timed rounds.
  const cost = wanted(cases.wide) ? await measureOpenCost(ctx) : undefined;
  const best = (name) => bestBytesPerSecond(samples[name], 'ms');
  const summary = (name) => throughputSummary(samples[name], 'ms');
  const common = { clock: 'wall', rounds, pick: 'best', bytes: TOTAL, chunk: CHUNK, writes: WRITES };

  const rows = [];
  if (wanted(cases.one)) {
    rows.push({
      group: 'tunnel',
      case: cases.one,
      mproxy: best('one'),
      baseline: best('raw'),
      unit: 'bytes/s',
      target: TARGET_ONE,
      detail: { ...common, mproxy: summary('one'), baseline: summary('raw') },
    });
  }
  if (wanted(cases.wide)) {
    rows.push({
      group: 'tunnel',
      case: cases.wide,
      mproxy: best('wide'),
      baseline: best('one'),
      unit: 'bytes/s',
      target: TARGET_WIDE,
      detail: { ...common, clients: CLIENTS, mproxy: summary('wide'), baseline: summary('one'), ...cost },
    });
  }
  return rows;
}

/** The cost of CLIENTS open clients: heap (both ends together, after a full GC) and open time. */
async function measureOpenCost(ctx) {
  const t = await openTunnel(CLIENTS, 0, ctx);
  await t.close();
  return t.cost;
}
