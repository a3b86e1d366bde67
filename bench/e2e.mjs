// End-to-end benchmark: visitor → relay → device → local service on 127.0.0.1, through mproxy
// (createRelay + createDevice, relay ↔ device over the device's WebSocket) against the same hops
// built from plain node:net pipes and from the `multiplex` package (bench/lib/e2e-paths.mjs).
//
// throughput   one visitor writes TOTAL bytes in 64 KiB writes (waiting out each write that
//              returns false) to a local sink that counts them, from the first write to the
//              last byte counted. TCP service (mproxy: a claimed port) and TLS passthrough
//              (mproxy: routed by SNI; the visitor verifies the local service's own
//              certificate). Each against plain pipes and against multiplex.
// concurrency  the same TOTAL bytes split over 1, 100 and 1000 visitors writing at once (TCP
//              service), all connected through to the sink before the clock starts; 100 and
//              1000 against 1. Measured on the relaying processes as users run them: `mproxy
//              relay` and `mproxy device` started with the CLI (bench/lib/processes.mjs), their
//              user+system CPU time over the transfer, visitors and sink in this process; two
//              node:net pipe processes on the same hops as a reference (detail and chart). In
//              one process with the visitors, what 1000 visitor sockets cost the visitors'
//              side would count as the relay's. Also multiplex and mproxy in this process at
//              1000 visitors (a row, no target). And one visitor moving TOTAL while 1000 more
//              sit idle on the same tunnel, against one alone: what idle visitors cost a busy
//              one (no target).
// latency      1-byte round trips to a local echo: one visitor, LATENCY_TRIPS sequential round
//              trips, p50 and p99, against plain pipes (ratio baseline/mproxy). Also 100 and
//              1000 visitors doing round trips at once (no target; for the chart). Wall clock.
// memory       the relay and the device each in a child process of its own
//              (bench/lib/e2e-child.mjs; --expose-gc, which only makes gc() callable); 1000 idle
//              visitors opened through to a local service; growth of (RSS - V8 young
//              generation) per visitor after full GCs, per side, shown against an 8 KiB budget
//              without a target: an extra row (forced GCs are no user's process); the idle cost
//              a user pays, plain RSS of the CLI processes, is bench/user.mjs's row.
//              Median of MEMORY_REPS repetitions with fresh children.
//
// Everything but the concurrency rows against one visitor and the memory rows runs in this
// process (visitors, relay, device and local services on one thread). Throughput there is
// counted against the runner's clock (see `clock` in run()), wall and main-thread CPU time go
// to `detail`. Every measurement gets a fresh relay + device (or fresh pipes); the
// configurations of a round run in an order that alternates from round to round, and each
// keeps its best round (see docs/performance.md, "End to end"). Writes bench/results.svg.
import { fork } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mproxy from '../dist/index.js';
import { renderChart } from './lib/e2e-chart.mjs';
import {
  SECRET,
  closeVisitors,
  freePort,
  makeCertificate,
  openVisitors,
  pingPong,
  startLocalServices,
  startPath,
  writeBytes,
} from './lib/e2e-paths.mjs';
import { within } from './lib/loopback.mjs';
import { alternatingRounds, bestBytesPerSecond, bytesPerSecond, cpuMs, median, round2, throughputSummary } from './lib/measure.mjs';
import { cpuOf, killAll, onSignals, startMproxy, startPipes } from './lib/processes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;
const MiBTotal = Number(process.env.BENCH_E2E_MIB ?? 256);
const TOTAL = MiBTotal * MiB;
const CHUNK = 64 * KiB;
// Bytes moved through a fresh path before its clock starts.
const WARMUP = 32 * MiB;
const WIDE = [100, 1000];
const LATENCY_TRIPS = Number(process.env.BENCH_E2E_TRIPS ?? 5000);
const LATENCY_WARMUP = 300;
// Round trips per visitor when 100 / 1000 visitors ping at once.
const WIDE_TRIPS = { 100: 50, 1000: 10 };
const IDLE_VISITORS = 1000;
const BUDGET_PER_CLIENT = 8 * KiB;
const MEMORY_REPS = Number(process.env.BENCH_E2E_MEMORY_REPS ?? 7);
const TIMEOUT_MS = 60_000;

const TARGET = { pipes: 0.8, multiplex: 1.0, wide: 0.85, p99: 0.5 };

// ---------------------------------------------------------------------------------------------
// Measurements

/**
 * The soft limit on open files (Linux: /proc/self/limits), or undefined. 1000 visitors through
 * mproxy or multiplex in this process hold 4000 descriptors here (visitor, relay's, device's,
 * local service's); through the relaying processes, 2000 here and 1000 in each of them.
 */
function openFileLimit() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === 'unlimited' ? Infinity : Number(soft) || undefined;
  } catch {
    return undefined;
  }
}
const FDS_NEEDED = 4 * Math.max(...WIDE) + 500;

/** CPU time of this process's main thread so far (ms; Linux), or NaN. */
function mainThreadMs() {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/**
 * One transfer: a fresh path, `visitors` visitors connected through to the sink (and `idle`
 * more that send nothing), WARMUP bytes moved, then TOTAL bytes split over the visitors, timed
 * (wall, process CPU, main thread CPU).
 */
async function transfer(local, pems, kind, service, visitors, idle = 0) {
  const path = await startPath(kind, service, service === 'tls' ? local.ports.tlsSink : local.ports.tcpSink);
  try {
    return await timedTransfer(local, path.port, `${kind} ${service}`, visitors, { idle, pems: service === 'tls' ? pems : undefined });
  } finally {
    await path.close();
  }
}

/**
 * The same through relaying processes as users run them (bench/lib/processes.mjs): `mproxy
 * relay` and `mproxy device` started with the CLI, or two node:net pipe processes, towards the
 * TCP sink; the visitors and the sink stay in this process. Adds `relayingMs`, the user+system
 * time of the relaying processes over the transfer: what the visitors cost the relay and the
 * device, apart from what they cost this process (docs/performance.md, "End to end", "Method").
 */
async function processTransfer(local, dir, kind, visitors) {
  const path = kind === 'mproxy' ? await startMproxy(local.ports.tcpSink, dir) : await startPipes(local.ports.tcpSink);
  try {
    return await timedTransfer(local, path.port, `${kind} processes`, visitors, { sides: path.sides });
  } finally {
    await path.stop();
  }
}

async function timedTransfer(local, port, what, visitors, { idle = 0, pems, sides = {} } = {}) {
  const pids = Object.values(sides).flat();
  let sockets = [];
  let idlers = [];
  try {
    const base = local.acceptedCount;
    idlers = await within(openVisitors(idle, port), TIMEOUT_MS, `${what}: opening ${idle} idle visitors`);
    sockets = await within(openVisitors(visitors, port, pems ? { pems } : {}), TIMEOUT_MS, `${what}: opening ${visitors} visitors`);
    await within(local.accepted(base + idle + visitors), TIMEOUT_MS, `${what}: ${idle + visitors} visitors reaching the local service`);
    const per = Math.floor(TOTAL / visitors);
    const bytes = per * visitors;
    // Warm-up through the same visitors: the JIT has compiled this path and V8's young
    // generation has grown to the allocation rate, as in a relay that has been running. (A
    // full GC here instead shrank the young generation and cost mproxy 40 % more main-thread
    // time, pipes 30 %: a cold start, not the steady state.)
    const warmPer = Math.floor(WARMUP / visitors);
    const warmed = local.meter.until(warmPer * visitors);
    await Promise.all(sockets.map((socket) => writeBytes(socket, payload, warmPer)));
    await within(warmed, TIMEOUT_MS, `${what}: warm-up`);
    const arrived = local.meter.until(bytes);
    const relaying0 = pids.map(cpuOf);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadMs();
    await Promise.all(sockets.map((socket) => writeBytes(socket, payload, per)));
    await within(arrived, TIMEOUT_MS, `${what}: ${visitors} visitors moving ${bytes} bytes`);
    const ms = performance.now() - t0;
    const cpu = cpuMs(process.cpuUsage(cpu0));
    const main = mainThreadMs() - main0;
    // Each process's CPU over the transfer; each side's share shows which process a
    // configuration costs.
    const used = new Map(pids.map((pid, i) => [pid, cpuOf(pid) - relaying0[i]]));
    const sumOf = (of) => of.reduce((sum, pid) => sum + used.get(pid), 0);
    const relaying = sumOf(pids);
    const sideMs = Object.fromEntries(Object.entries(sides).map(([side, of]) => [side, sumOf(of)]));
    if (local.meter.bytes !== bytes) throw new Error(`${what}: the sink counted ${local.meter.bytes} of ${bytes} bytes`);
    return { bytes, ms, cpuMs: cpu, mainMs: main, ...(pids.length > 0 ? { relayingMs: relaying, sideMs } : {}) };
  } finally {
    await closeVisitors([...sockets, ...idlers]);
  }
}

/** Round trips through a fresh path: `visitors` visitors at once, `trips` each; samples in ms. */
async function latency(local, kind, visitors, trips) {
  const path = await startPath(kind, 'tcp', local.ports.echo);
  let sockets = [];
  try {
    const base = local.acceptedCount;
    sockets = await within(openVisitors(visitors, path.port), TIMEOUT_MS, `${kind}: opening ${visitors} visitors`);
    await within(local.accepted(base + visitors), TIMEOUT_MS, `${kind}: ${visitors} visitors reaching the echo`);
    // Warm-up: the same exchange, not recorded.
    const warm = Math.max(1, Math.ceil(LATENCY_WARMUP / visitors));
    await within(Promise.all(sockets.map((s) => pingPong(s, warm, []))), TIMEOUT_MS, `${kind}: warm-up round trips`);
    const samples = [];
    await within(Promise.all(sockets.map((s) => pingPong(s, trips, samples))), TIMEOUT_MS, `${kind}: ${visitors} x ${trips} round trips`);
    return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), count: samples.length };
  } finally {
    await closeVisitors(sockets);
    await path.close();
  }
}

function percentile(samples, p) {
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Echoes 1 MiB of random bytes through each path once and compares: no figure without it. */
async function checkContent(local) {
  const data = randomBytes(MiB);
  const digest = createHash('sha256').update(data).digest('hex');
  for (const kind of ['mproxy', 'pipes', 'multiplex']) {
    const path = await startPath(kind, 'tcp', local.ports.echo);
    const [socket] = await openVisitors(1, path.port);
    try {
      const chunks = [];
      let got = 0;
      const back = new Promise((resolve) => {
        socket.on('data', (chunk) => {
          chunks.push(chunk);
          got += chunk.length;
          if (got >= data.length) resolve();
        });
      });
      await writeBytes(socket, data, data.length);
      await within(back, TIMEOUT_MS, `${kind}: content check`);
      if (createHash('sha256').update(Buffer.concat(chunks)).digest('hex') !== digest) {
        throw new Error(`${kind}: the echo came back different`);
      }
    } finally {
      await closeVisitors([socket]);
      await path.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: relay and device in child processes

function spawnChild(name) {
  // --expose-gc only makes gc() callable for the full collections before each sample; the
  // children otherwise have the environment the user has (glibc's allocator defaults unless
  // GLIBC_TUNABLES is set). glibc trims freed memory at moments of its own, so single
  // repetitions spread wide: the row takes the median of several. Plain RSS as a user's
  // relay pays it: bench/user.mjs.
  const child = fork(join(here, 'lib', 'e2e-child.mjs'), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 1;
  const waiting = new Map();
  child.on('message', (message) => {
    const w = waiting.get(message.id);
    if (!w) return;
    waiting.delete(message.id);
    if (message.ok) w.resolve(message);
    else w.reject(new Error(`${name} child: ${message.error}`));
  });
  const exited = once(child, 'exit');
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new Error(`${name} child exited`));
    waiting.clear();
  });
  return {
    child,
    ask(op, args = {}) {
      const id = next++;
      return within(
        new Promise((resolve, reject) => {
          waiting.set(id, { resolve, reject });
          child.send({ id, op, ...args });
        }),
        TIMEOUT_MS,
        `${name} child answering ${op}`,
      );
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        await this.ask('close');
        await within(exited, 5000, `${name} child exiting`);
      } catch {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

async function waitFor(condition, what, ms = TIMEOUT_MS) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * One memory measurement with a fresh relay child and a fresh device child: 100 visitors
 * opened and closed (every code path warm), a sample, IDLE_VISITORS idle visitors opened
 * through to the local echo, a sample. Returns each side's growth per visitor.
 */
async function measureMemoryOnce(local, rep) {
  const relay = spawnChild('relay');
  const device = spawnChild('device');
  let sockets = [];
  try {
    const port = await freePort();
    const { tunnelUrl } = await relay.ask('relay', { secret: SECRET, tcpPort: port });
    const token = await mproxy.issueToken(SECRET, { ports: [port] });
    await device.ask('device', { relay: tunnelUrl, token, forward: `tcp:${port}=127.0.0.1:${local.ports.echo}` });
    await waitFor(async () => (await relay.ask('ports')).tcp.includes(port), `the relay child listening on ${port}`);

    const openIdle = async (n) => {
      const base = local.acceptedCount;
      const opened = await openVisitors(n, port);
      await within(local.accepted(base + n), TIMEOUT_MS, `${n} idle visitors reaching the local service`);
      await waitFor(async () => (await device.ask('clients')).clients === n, `the device holding ${n} clients`);
      return opened;
    };
    await closeVisitors(await openIdle(100));
    await waitFor(async () => (await device.ask('clients')).clients === 0 && local.openCount === 0, 'the warm-up visitors to be gone');

    // BENCH_E2E_SNAPSHOTS=<dir>: heap snapshots of both sides before and after (first
    // repetition), to see what a client holds (DevTools, Memory tab, "Comparison").
    const snapshots = rep === 0 ? process.env.BENCH_E2E_SNAPSHOTS : undefined;
    const snapshot = async (when) => {
      if (!snapshots) return;
      for (const [side, child] of [['relay', relay], ['device', device]]) {
        await child.ask('snapshot', { path: join(snapshots, `${side}-${when}.heapsnapshot`) });
      }
    };
    const sample = async () => {
      const [r, d] = await Promise.all([relay.ask('sample'), device.ask('sample')]);
      return { relay: r, device: d };
    };
    const before = await sample();
    await snapshot('before');
    sockets = await openIdle(IDLE_VISITORS);
    const after = await sample();
    await snapshot('after');
    const result = {};
    for (const side of ['relay', 'device']) {
      const per = (a, b) => (a - b) / IDLE_VISITORS;
      const rss = per(after[side].rss, before[side].rss);
      const newSpace = per(after[side].spaces.new_space ?? 0, before[side].spaces.new_space ?? 0);
      result[side] = {
        perClient: rss - newSpace,
        rss,
        newSpace,
        heap: per(after[side].heapUsed, before[side].heapUsed),
        oldSpace: per(after[side].spaces.old_space ?? 0, before[side].spaces.old_space ?? 0),
        external: per(after[side].external, before[side].external),
      };
    }
    return result;
  } finally {
    await closeVisitors(sockets);
    await Promise.all([device.stop(), relay.stop()]);
  }
}

/**
 * MEMORY_REPS measurements, each with fresh children; per side the median. The figure is the
 * RSS growth per visitor minus the growth of V8's young generation: opening 1000 visitors in a
 * burst grows the young generation from 1 to ~8 MiB (all resident, ~7 KiB per visitor) though
 * it holds nothing after the GC, and V8's memory reducer gives it back after a few seconds of
 * quiet (see docs/performance.md). Everything else resident counts: old space, code, and native
 * memory (sockets' handles, buffers, malloc overhead).
 */
async function measureMemory(ctx, local) {
  const reps = [];
  for (let rep = 0; rep < MEMORY_REPS; rep++) {
    const m = await measureMemoryOnce(local, rep);
    reps.push(m);
    for (const side of ['relay', 'device']) {
      const r = m[side];
      ctx.log(
        `  memory ${rep + 1} ${side}: ${fmtBytes(r.perClient)} per idle visitor = RSS ${fmtBytes(r.rss)} - young generation ${fmtBytes(r.newSpace)} ` +
          `(V8 heap used ${fmtBytes(r.heap)}, old space resident ${fmtBytes(r.oldSpace)})`,
      );
    }
  }
  const result = {};
  for (const side of ['relay', 'device']) {
    const pick = (field) => Math.round(median(reps.map((r) => r[side][field])));
    result[side] = {
      perClient: pick('perClient'),
      rssPerClient: pick('rss'),
      newSpacePerClient: pick('newSpace'),
      heapPerClient: pick('heap'),
      oldSpacePerClient: pick('oldSpace'),
      samplesPerClient: reps.map((r) => Math.round(r[side].perClient)),
    };
  }
  return result;
}

function fmtBytes(n) {
  return `${Math.round(n)} B`;
}

// ---------------------------------------------------------------------------------------------
// Rounds

/**
 * Throughput and latency log their rounds alike (`  round N name: …`), only `describe` differs:
 * one line as each measurement lands, so that a disturbed round shows while the run goes on.
 */
function rounds(ctx, configs, count, describe) {
  return alternatingRounds(configs, count, (name, m, round) => ctx.log(`  round ${round + 1} ${name}: ${describe(m)}`));
}

// ---------------------------------------------------------------------------------------------

const payload = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i++) payload[i] = (i * 31 + 7) & 0xff;

/** @param {import('./run.mjs').BenchContext} ctx */
export async function run(ctx) {
  if (typeof mproxy.createRelay !== 'function' || typeof mproxy.createDevice !== 'function') {
    throw new Error('dist/index.js does not export createRelay and createDevice: build the library first (npx tsup)');
  }
  const size = `${MiBTotal} MiB`;
  const cases = {
    tcpPipes: `TCP, 1 visitor, ${size} (vs node:net pipes)`,
    tcpPlex: `TCP, 1 visitor, ${size} (vs multiplex)`,
    tlsPipes: `TLS passthrough, 1 visitor, ${size} (vs node:net pipes)`,
    tlsPlex: `TLS passthrough, 1 visitor, ${size} (vs multiplex)`,
    wide100: `TCP, 100 visitors, ${size} in all (vs 1 visitor)`,
    wide1000: `TCP, 1000 visitors, ${size} in all (vs 1 visitor)`,
    wide1000Plex: `TCP, 1000 visitors, ${size} in all (vs multiplex, 1000 visitors)`,
    idle1000: `TCP, 1 visitor among ${IDLE_VISITORS} idle, ${size} (vs 1 visitor alone)`,
    p50: `1-byte round trip p50, 1 visitor (vs node:net pipes)`,
    p99: `1-byte round trip p99, 1 visitor (vs node:net pipes)`,
    p99w100: `1-byte round trip p99, 100 visitors at once (vs node:net pipes)`,
    p99w1000: `1-byte round trip p99, 1000 visitors at once (vs node:net pipes)`,
    memRelay: `extra, after forced full GCs (not a user's process): relay RSS minus young generation per idle visitor, ${IDLE_VISITORS} open (vs 8 KiB)`,
    memDevice: `extra, after forced full GCs (not a user's process): device RSS minus young generation per idle visitor, ${IDLE_VISITORS} open (vs 8 KiB)`,
  };
  const wanted = (key) => !ctx.filter || `e2e ${cases[key]}`.includes(ctx.filter);
  const any = (...keys) => keys.some(wanted);

  // Throughput clock: ctx.clock (process CPU time unless BENCH_CLOCK=wall); wall time and the
  // main thread's CPU time go to `detail`. (No forced GC before a measurement: it shrank V8's
  // young generation, and the transfer that followed paid for growing it again with parallel
  // scavenges whose helper threads, contending for 2 cores, swung whole-process CPU time by up
  // to 500 ms a transfer. After a warm-up through the same path instead, wall, process CPU
  // and main-thread CPU agree within about 10 %.)
  const clock = ctx.clock;
  // Rounds: 5 for throughput and for latency (a p99 is a tail: one disturbed round in 3 took it
  // from x0.8 to x0.5 of the pipes once); BENCH_E2E_ROUNDS sets both.
  const forced = Number(process.env.BENCH_E2E_ROUNDS ?? 0);
  const count = forced || Math.max(5, ctx.rounds);
  const fdLimit = openFileLimit();
  if (fdLimit !== undefined && fdLimit < FDS_NEEDED) {
    throw new Error(`open files are limited to ${fdLimit} (ulimit -n); 1000 visitors need ${FDS_NEEDED}: raise it (ulimit -n 8192)`);
  }
  ctx.log(`  open files limit ${fdLimit ?? 'unknown'} (needs ${FDS_NEEDED})`);
  const pems = await makeCertificate();
  const local = await startLocalServices(pems);
  // The secret and tokens of the relaying processes (bench/lib/processes.mjs).
  const dir = mkdtempSync(join(tmpdir(), 'mproxy-bench-e2e-'));
  const offSignals = onSignals(() => rmSync(dir, { recursive: true, force: true }));
  const rows = [];
  const chart = { clock, throughputClock: 'relaying', totalMiB: MiBTotal, rounds: count, latencyRounds: count };
  try {
    await checkContent(local);

    // Throughput: one visitor and many, every configuration in every round.
    const configs = {};
    const tput = (kind, service, visitors, idle) => () => transfer(local, pems, kind, service, visitors, idle);
    if (any('tcpPipes', 'tcpPlex', 'idle1000')) configs['mproxy tcp 1'] = tput('mproxy', 'tcp', 1);
    if (wanted('tcpPipes')) configs['pipes tcp 1'] = tput('pipes', 'tcp', 1);
    if (wanted('tcpPlex')) configs['multiplex tcp 1'] = tput('multiplex', 'tcp', 1);
    if (any('tlsPipes', 'tlsPlex')) configs['mproxy tls 1'] = tput('mproxy', 'tls', 1);
    if (wanted('tlsPipes')) configs['pipes tls 1'] = tput('pipes', 'tls', 1);
    if (wanted('tlsPlex')) configs['multiplex tls 1'] = tput('multiplex', 'tls', 1);
    // Many visitors: what they cost the relaying processes as users run them, against one
    // visitor through the same processes (see processTransfer).
    const processes = (kind, visitors) => () => processTransfer(local, dir, kind, visitors);
    for (const n of WIDE) {
      if (wanted(`wide${n}`)) {
        for (const kind of ['mproxy', 'pipes']) {
          configs[`${kind} processes tcp 1`] ??= processes(kind, 1);
          configs[`${kind} processes tcp ${n}`] = processes(kind, n);
        }
      }
    }
    // The other multiplexer at scale: the 1000-visitor target is set against one visitor, and
    // a multiplexer pays at 1000 for what plain pipes leave to the kernel (see performance.md).
    if (wanted('wide1000Plex')) {
      configs['mproxy tcp 1000'] = tput('mproxy', 'tcp', 1000);
      configs['multiplex tcp 1000'] = tput('multiplex', 'tcp', 1000);
      configs['multiplex tcp 1'] ??= tput('multiplex', 'tcp', 1);
    }
    // What idle visitors cost a busy one: a congestion of the tunnel must not touch them.
    if (wanted('idle1000')) configs[`mproxy tcp 1 among ${IDLE_VISITORS} idle`] = tput('mproxy', 'tcp', 1, IDLE_VISITORS);
    const field = { wall: 'ms', cpu: 'cpuMs', main: 'mainMs' }[clock];
    const tputSamples = await rounds(ctx, configs, count, (m) =>
      m.relayingMs === undefined
        ? `${(bytesPerSecond(m, field) / 1e6).toFixed(0)} MB/s (${m.ms.toFixed(0)} ms wall, ${m.cpuMs.toFixed(0)} ms CPU, ${m.mainMs.toFixed(0)} ms main thread)`
        : `${(bytesPerSecond(m, 'relayingMs') / 1e6).toFixed(0)} MB per CPU-second of the relaying processes (${m.relayingMs.toFixed(0)} ms of their CPU: ${Object.entries(m.sideMs)
            .map(([side, ms]) => `${side} ${ms.toFixed(0)}`)
            .join(', ')}; ${m.ms.toFixed(0)} ms wall)`,
    );
    const best = (name) => bestBytesPerSecond(tputSamples[name], field);
    const summary = (name) =>
      throughputSummary(tputSamples[name], field, {
        otherClocks: { wallMBps: 'ms', processCpuMBps: 'cpuMs' },
        perMiB: { cpuMsPerMiB: 'cpuMs', mainThreadMsPerMiB: 'mainMs' },
      });
    const common = { clock, rounds: count, pick: 'best', bytes: TOTAL, chunk: CHUNK };
    const tputRow = (key, mine, theirs, target, extra = () => ({})) => {
      if (!wanted(key)) return;
      rows.push({
        group: 'e2e',
        case: cases[key],
        mproxy: best(mine),
        baseline: best(theirs),
        unit: 'bytes/s',
        target,
        detail: { ...common, ...extra(), mproxy: summary(mine), baseline: summary(theirs) },
      });
    };
    tputRow('tcpPipes', 'mproxy tcp 1', 'pipes tcp 1', TARGET.pipes);
    tputRow('tcpPlex', 'mproxy tcp 1', 'multiplex tcp 1', TARGET.multiplex);
    tputRow('tlsPipes', 'mproxy tls 1', 'pipes tls 1', TARGET.pipes);
    tputRow('tlsPlex', 'mproxy tls 1', 'multiplex tls 1', TARGET.multiplex);
    // The many-visitor rows, on the relaying processes' CPU time; the other clocks in `detail`.
    const relaying = (name) => bestBytesPerSecond(tputSamples[name], 'relayingMs');
    const relayingSummary = (name) =>
      throughputSummary(tputSamples[name], 'relayingMs', {
        otherClocks: { wallMBps: 'ms', benchProcessCpuMBps: 'cpuMs' },
        perMiB: { relayingCpuMsPerMiB: 'relayingMs' },
      });
    for (const n of WIDE) {
      if (!wanted(`wide${n}`)) continue;
      rows.push({
        group: 'e2e',
        case: cases[`wide${n}`],
        mproxy: relaying(`mproxy processes tcp ${n}`),
        baseline: relaying('mproxy processes tcp 1'),
        unit: 'bytes/s',
        target: n === 1000 ? TARGET.wide : null,
        detail: {
          clock: 'relaying processes CPU (mproxy relay + mproxy device, /proc/PID/stat)',
          rounds: count,
          pick: 'best',
          bytes: TOTAL,
          chunk: CHUNK,
          visitors: n,
          openFilesLimit: fdLimit,
          mproxy: relayingSummary(`mproxy processes tcp ${n}`),
          baseline: relayingSummary('mproxy processes tcp 1'),
          pipeProcesses: relayingSummary(`pipes processes tcp ${n}`),
          pipeProcessesOneVisitor: relayingSummary('pipes processes tcp 1'),
          pipeProcessesRatio: round2(relaying(`pipes processes tcp ${n}`) / relaying('pipes processes tcp 1')),
        },
      });
    }
    tputRow('wide1000Plex', 'mproxy tcp 1000', 'multiplex tcp 1000', null, () => ({
      visitors: 1000,
      multiplexOneVisitor: 'multiplex tcp 1' in tputSamples ? summary('multiplex tcp 1') : undefined,
    }));
    tputRow('idle1000', `mproxy tcp 1 among ${IDLE_VISITORS} idle`, 'mproxy tcp 1', null, () => ({ visitors: 1, idle: IDLE_VISITORS }));
    const has = (name) => name in tputSamples;
    chart.oneVisitor = ['tcp', 'tls'].map((service) => ({
      label: service === 'tcp' ? 'TCP service' : 'TLS passthrough',
      bars: ['mproxy', 'pipes', 'multiplex']
        .filter((kind) => has(`${kind} ${service} 1`))
        .map((kind) => ({ kind, MBps: best(`${kind} ${service} 1`) / 1e6 })),
    }));
    chart.throughput = ['mproxy', 'pipes']
      .map((kind) => ({
        kind,
        points: [1, ...WIDE]
          .filter((n) => has(`${kind} processes tcp ${n}`))
          .map((n) => ({ visitors: n, MBps: relaying(`${kind} processes tcp ${n}`) / 1e6 })),
      }))
      .filter((series) => series.points.length > 1);

    // Latency: 1 visitor (the rows with targets), then 100 and 1000 at once.
    if (any('p50', 'p99', 'p99w100', 'p99w1000')) {
      const lat = {};
      if (any('p50', 'p99')) {
        lat['mproxy 1'] = () => latency(local, 'mproxy', 1, LATENCY_TRIPS);
        lat['pipes 1'] = () => latency(local, 'pipes', 1, LATENCY_TRIPS);
      }
      for (const n of WIDE) {
        if (wanted(`p99w${n}`)) {
          lat[`mproxy ${n}`] = () => latency(local, 'mproxy', n, WIDE_TRIPS[n]);
          lat[`pipes ${n}`] = () => latency(local, 'pipes', n, WIDE_TRIPS[n]);
        }
      }
      const latSamples = await rounds(ctx, lat, count, (m) => `p50 ${(m.p50 * 1000).toFixed(0)} µs, p99 ${(m.p99 * 1000).toFixed(0)} µs (${m.count} round trips)`);
      const low = (name, field) => Math.min(...latSamples[name].map((m) => m[field]));
      const latRow = (key, visitors, field, target) => {
        if (!wanted(key)) return;
        const mine = low(`mproxy ${visitors}`, field);
        const theirs = low(`pipes ${visitors}`, field);
        rows.push({
          group: 'e2e',
          case: cases[key],
          mproxy: mine * 1000,
          baseline: theirs * 1000,
          unit: 'µs',
          ratio: theirs / mine,
          target,
          detail: {
            clock: 'wall',
            rounds: count,
            pick: 'lowest',
            roundTrips: latSamples[`mproxy ${visitors}`][0].count,
            visitors,
            mproxyUs: latSamples[`mproxy ${visitors}`].map((m) => ({ p50: round2(m.p50 * 1000), p99: round2(m.p99 * 1000) })),
            baselineUs: latSamples[`pipes ${visitors}`].map((m) => ({ p50: round2(m.p50 * 1000), p99: round2(m.p99 * 1000) })),
          },
        });
      };
      latRow('p50', 1, 'p50', null);
      latRow('p99', 1, 'p99', TARGET.p99);
      for (const n of WIDE) latRow(`p99w${n}`, n, 'p99', null);
      chart.latency = ['mproxy', 'pipes'].map((kind) => ({
        kind,
        points: [1, ...WIDE].filter((n) => `${kind} ${n}` in latSamples).map((n) => ({ visitors: n, p99us: low(`${kind} ${n}`, 'p99') * 1000 })),
      }));
    }

    // Memory.
    if (any('memRelay', 'memDevice')) {
      const mem = await measureMemory(ctx, local);
      for (const side of ['relay', 'device']) {
        const key = side === 'relay' ? 'memRelay' : 'memDevice';
        if (!wanted(key)) continue;
        const measured = mem[side].perClient;
        rows.push({
          group: 'e2e',
          case: cases[key],
          mproxy: measured,
          baseline: BUDGET_PER_CLIENT,
          unit: 'B/client',
          ratio: BUDGET_PER_CLIENT / Math.max(1, measured),
          // No target: the idle cost a user pays (plain RSS, the CLI processes) is bench/user.mjs's.
          detail: {
            visitors: IDLE_VISITORS,
            repetitions: MEMORY_REPS,
            pick: 'median',
            method: 'own child process; after 3 full GCs, (RSS - V8 young generation) with 1000 idle visitors minus the same with none, after a 100-visitor warm-up',
            ...mem[side],
          },
        });
      }
    }
  } finally {
    killAll();
    offSignals();
    rmSync(dir, { recursive: true, force: true });
    await local.close();
  }

  if (!ctx.filter) {
    const out = join(here, 'results.svg');
    writeFileSync(out, renderChart(chart));
    ctx.log(`  wrote ${out}`);
  } else {
    ctx.log('  bench/results.svg not written: a filter left out some of its data');
  }
  return rows;
}
