// What a user's relay pays: the relay and the device run as users run them, each a CLI process
// of its own (`node dist/cli.js relay …`, `node dist/cli.js device …`) with nothing but what the
// CLI gives itself (its process settings, docs/cli.md; each row's detail has what the processes
// ran with, read from /proc), default logging, a claimed TCP port forwarded to a local
// sink on 127.0.0.1. Baseline, in the same run: two plain node:net pipe processes on the same
// hops (visitor → pipe → pipe → sink; bench/lib/pipe-process.mjs). Outside reference, when
// /usr/sbin/sshd is there: OpenSSH `-R` (visitor → sshd → ssh → sink, aes128-gcm@openssh.com).
// Visitors and the sink live in this process; only the relaying processes are measured.
//
// fresh      new processes; one visitor sends TOTAL bytes in 64 KiB writes, TRANSFERS times
//            (a new visitor each time), the paths alternating transfer by transfer.
//            Throughput: wall clock from the first write to the last byte the sink counts,
//            median. CPU per byte: user+system time of the relaying processes
//            (/proc/PID/stat) over the transfer, per MiB, median; their minor page faults per
//            MiB go to the row's detail.
// churned    new processes that first carry CHURN idle visitors (all opened through to the
//            sink, then all closed), then the same transfers. And the RSS growth while
//            streaming: the sum of the relaying processes' VmRSS (/proc/PID/status) sampled
//            every SAMPLE_MS during the transfers, peak minus the sum just before the first.
// idle       new processes that first carry CHURN idle visitors (opened through to the sink,
//            then closed), as the issue's relay that has served thousands has; then IDLE
//            visitors opened through to the sink, a pause of SETTLE_MS, a sample of each
//            process's VmRSS; IDLE more beside them, the pause, a sample: the growth over IDLE,
//            per side. Median of IDLE_REPS repetitions.
//
// extra      only with BENCH_USER_TUNABLES=1: the churned transfers again with GLIBC_TUNABLES
//            keeping freed memory resident in the relaying processes (both paths); labelled,
//            no target: no user runs with it.
//
// Every wait is bounded; every process started here is killed when the module ends, when this
// process exits and on SIGINT, SIGTERM or SIGHUP. BENCH_USER_PROF=<dir>: the relay, device and pipe processes run with
// `--cpu-prof` and write their profiles there (summarise with
// bench/lib/cpuprofile-summary.mjs, with the window the module logs).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, writeBytes } from './lib/e2e-paths.mjs';
import { within } from './lib/loopback.mjs';
import { median, round2 } from './lib/measure.mjs';
import { CLI, HOST, START_MS, cpuOf, faultsOf, killAll, onSignals, rssOf, start, started, startMproxy, startPipes, stop, tree } from './lib/processes.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw} is not a positive integer`);
  return n;
}

const TOTAL = envInt('BENCH_USER_MIB', 256) * MiB;
const TRANSFERS = envInt('BENCH_USER_TRANSFERS', 5);
const CHURN = envInt('BENCH_USER_CHURN', 2000);
const IDLE = envInt('BENCH_USER_IDLE', 1000);
const IDLE_REPS = envInt('BENCH_USER_IDLE_REPS', 3);
const SETTLE_MS = envInt('BENCH_USER_SETTLE_MS', 1000);
const SAMPLE_MS = 20;
const WAIT_MS = 60_000;
const TRANSFER_MS = 180_000;
const CHUNK = Buffer.alloc(64 * KiB);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31 + 7) & 0xff;

/** BENCH_USER_TUNABLES=1 adds rows with this in the relaying processes' environment. */
const TUNABLES = 'glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=33554432';
const sum = (values) => values.reduce((a, b) => a + b, 0);

const TARGET = { throughput: 0.9, cpu: 1.3, streamingSlack: 16 * MiB, idle: 8 * KiB };

// ---------------------------------------------------------------------------------------------
// The local sink

async function startSink() {
  const sink = { bytes: 0, accepted: 0, open: 0, waiters: [] };
  const check = () => {
    sink.waiters = sink.waiters.filter((w) => {
      if (!w.done()) return true;
      w.resolve();
      return false;
    });
  };
  const server = net.createServer((socket) => {
    sink.accepted++;
    sink.open++;
    socket.on('data', (chunk) => {
      sink.bytes += chunk.length;
      check();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sink.open--;
      check();
    });
    check();
  });
  server.maxConnections = 100_000;
  server.listen(0, HOST);
  await once(server, 'listening');
  sink.port = server.address().port;
  sink.when = (done, what, ms = WAIT_MS) => {
    if (done()) return Promise.resolve();
    return within(new Promise((resolve) => sink.waiters.push({ done, resolve })), ms, what);
  };
  sink.close = () => new Promise((resolve) => server.close(() => resolve()));
  return sink;
}


const SSHD = '/usr/sbin/sshd';
const CIPHER = 'aes128-gcm@openssh.com';

/** Why OpenSSH cannot be measured here, or null when it can. */
function sshAbsent() {
  if (!existsSync(SSHD)) return `${SSHD} not found (Debian: apt-get install openssh-server)`;
  if (!existsSync('/usr/bin/ssh') || !existsSync('/usr/bin/ssh-keygen')) return 'ssh or ssh-keygen not found';
  return null;
}

/** Whether a connection to 127.0.0.1:port is accepted now (then closed at once). */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startSsh(sinkPort, dir) {
  const keygen = (file) => {
    if (existsSync(file)) return;
    const r = spawnSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  };
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  keygen(hostKey);
  keygen(userKey);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`));
  const sshPort = await freePort();
  const config = join(dir, `sshd_config_${sshPort}`);
  writeFileSync(
    config,
    [
      `Port ${sshPort}`,
      `ListenAddress ${HOST}`,
      `HostKey ${hostKey}`,
      `PidFile none`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding remote',
      'GatewayPorts no',
      'X11Forwarding no',
      'PrintMotd no',
      `Ciphers ${CIPHER}`,
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = await start(SSHD, ['-D', '-e', '-f', config], null, { what: 'sshd' });
  const up = Date.now() + START_MS;
  for (;;) {
    if (await accepts(sshPort)) break;
    if (Date.now() > up) throw new Error(`sshd did not listen on ${sshPort}: ${sshd.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const port = await freePort();
  const user = process.env.USER || spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim() || 'root';
  const ssh = spawn(
    '/usr/bin/ssh',
    ['-F', '/dev/null', '-N', '-T', '-p', String(sshPort), '-i', userKey, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'ExitOnForwardFailure=yes',
      '-o', `Ciphers=${CIPHER}`, '-o', 'Compression=no', '-o', 'LogLevel=ERROR',
      '-R', `${HOST}:${port}:${HOST}:${sinkPort}`, `${user}@${HOST}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  started.add(ssh);
  ssh.once('exit', () => started.delete(ssh));
  let sshErr = '';
  ssh.stderr.on('data', (chunk) => (sshErr = (sshErr + chunk).slice(-4000)));
  try {
    const deadline = Date.now() + START_MS;
    for (;;) {
      if (ssh.exitCode !== null) throw new Error(`ssh exited ${ssh.exitCode}: ${sshErr}`);
      if (await accepts(port)) break;
      if (Date.now() > deadline) throw new Error(`the -R forward did not listen on ${port}: ${sshErr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } catch (error) {
    ssh.kill('SIGKILL');
    await stop(sshd.child);
    throw error;
  }
  // The probes above opened channels that reach the sink and close; sshd's per-connection
  // processes exist now and for as long as the session lasts.
  return {
    port,
    sides: { relay: tree(sshd.child.pid), device: [ssh.pid] },
    stop: async () => {
      await stop(ssh);
      await stop(sshd.child);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measurements

const pidsOf = (path) => [...path.sides.relay, ...path.sides.device];
const rssSum = (pids) => sum(pids.map(rssOf));

/** Opens `n` visitors to `port`, 100 at a time, and waits until the sink has accepted them. */
async function openThrough(sink, port, n, what) {
  const base = sink.accepted;
  const sockets = [];
  for (let at = 0; at < n; at += 100) {
    const wave = [];
    for (let i = at; i < Math.min(n, at + 100); i++) {
      const socket = net.connect({ host: HOST, port, noDelay: true });
      sockets.push(socket);
      wave.push(
        new Promise((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        }),
      );
    }
    await within(Promise.all(wave), WAIT_MS, `${what}: connecting visitors`);
  }
  for (const socket of sockets) socket.on('error', () => {});
  await sink.when(() => sink.accepted >= base + n, `${what}: ${n} visitors reaching the sink`);
  return sockets;
}

async function closeAll(sink, sockets, what) {
  for (const socket of sockets) socket.destroy();
  await sink.when(() => sink.open === 0, `${what}: the sink's connections closing`);
}

/**
 * One visitor sends `bytes`; wall time, CPU of the relaying processes, and the peak of their
 * summed RSS (sampled every SAMPLE_MS) during the transfer.
 */
async function transfer(sink, path, bytes, what) {
  const [socket] = await openThrough(sink, path.port, 1, what);
  const pids = pidsOf(path);
  const cpu0 = pids.map(cpuOf);
  const faults0 = pids.map(faultsOf);
  let peak = rssSum(pids);
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssSum(pids));
  }, SAMPLE_MS);
  const from = sink.bytes;
  const t0 = performance.now();
  try {
    await within(writeBytes(socket, CHUNK, bytes), TRANSFER_MS, `${what}: writing`);
    await sink.when(() => sink.bytes - from >= bytes, `${what}: the sink counting ${bytes} bytes`, TRANSFER_MS);
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - t0;
  const cpu = pids.map((pid, i) => cpuOf(pid) - cpu0[i]);
  const faults = sum(pids.map((pid, i) => faultsOf(pid) - faults0[i]));
  peak = Math.max(peak, rssSum(pids));
  await closeAll(sink, [socket], what);
  if (sink.bytes - from !== bytes) throw new Error(`${what}: the sink counted ${sink.bytes - from} of ${bytes} bytes`);
  const cpuMs = sum(cpu);
  return { bytes, ms, cpuMs, MBps: bytes / 1e6 / (ms / 1000), cpuMsPerMiB: cpuMs / (bytes / MiB), faultsPerMiB: faults / (bytes / MiB), peakRss: peak };
}

/**
 * Starts every path (fresh processes), optionally churns each with CHURN visitors, then runs
 * TRANSFERS transfers per path, the order alternating from one round to the next.
 */
async function transferPhase(ctx, sinks, starters, { churn, prof, env, label = churn ? 'churned' : 'fresh' }) {
  const paths = {};
  const results = {};
  try {
    for (const [name, startPath] of Object.entries(starters)) paths[name] = await startPath(sinks[name].port, { prof: prof && { dir: prof, label }, env });
    const settings = paths.mproxy?.settings;
    if (settings) ctx.log(`  ${label} mproxy processes run with: ${Object.entries(settings).map(([side, s]) => `${side} ${[s.allocator, ...s.v8Flags].join(' ')}`).join('; ')}`);
    if (churn) {
      for (const [name, path] of Object.entries(paths)) {
        const t0 = performance.now();
        const sockets = await openThrough(sinks[name], path.port, CHURN, `${name} churn`);
        await closeAll(sinks[name], sockets, `${name} churn`);
        ctx.log(`  ${name}: ${CHURN} visitors opened through to the sink and closed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
    const before = {};
    for (const [name, path] of Object.entries(paths)) {
      before[name] = rssSum(pidsOf(path));
      results[name] = [];
    }
    const names = Object.keys(paths);
    const window = Object.fromEntries(names.map((name) => [name, { from: performance.now(), to: 0 }]));
    for (let round = 0; round < TRANSFERS; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        const r = await transfer(sinks[name], paths[name], TOTAL, `${label} ${name}`);
        window[name].to = performance.now();
        results[name].push(r);
        ctx.log(
          `  ${label} ${round + 1} ${name}: ${r.MBps.toFixed(0)} MB/s, ${r.cpuMsPerMiB.toFixed(2)} CPU ms/MiB, ${r.faultsPerMiB.toFixed(0)} page faults/MiB, ` +
            `RSS peak ${(r.peakRss / MiB).toFixed(1)} MiB (+${((r.peakRss - before[name]) / MiB).toFixed(1)})`,
        );
      }
    }
    if (prof) {
      for (const [name, path] of Object.entries(paths)) {
        if (!path.spawnedAt) continue;
        const span = (t0) => `--from-ms ${Math.floor(window[name].from - t0)} --to-ms ${Math.ceil(window[name].to - t0)}`;
        ctx.log(`  profiles in ${prof}: ${label} ${name}'s transfers are relay ${span(path.spawnedAt.relay)}, device ${span(path.spawnedAt.device)} (bench/lib/cpuprofile-summary.mjs)`);
      }
    }
    const summary = {};
    for (const name of names) {
      const rs = results[name];
      summary[name] = {
        MBps: median(rs.map((r) => r.MBps)),
        cpuMsPerMiB: median(rs.map((r) => r.cpuMsPerMiB)),
        faultsPerMiB: median(rs.map((r) => r.faultsPerMiB)),
        rssGrowth: Math.max(...rs.map((r) => r.peakRss)) - before[name],
        rssBefore: before[name],
        transfers: rs.map((r) => ({ MBps: round2(r.MBps), cpuMsPerMiB: round2(r.cpuMsPerMiB), faultsPerMiB: Math.round(r.faultsPerMiB), peakRssMiB: round2(r.peakRss / MiB) })),
      };
    }
    if (paths.mproxy?.logLines) summary.mproxy.logLines = paths.mproxy.logLines();
    if (paths.mproxy?.settings) summary.mproxy.processSettings = paths.mproxy.settings;
    return summary;
  } finally {
    await Promise.all(Object.values(paths).map((p) => p.stop()));
  }
}

/** Per side, RSS growth per visitor: IDLE visitors opened beside IDLE already open. */
async function idleOnce(sinks, starters) {
  const out = {};
  for (const [name, startPath] of Object.entries(starters)) {
    const sink = sinks[name];
    const path = await startPath(sink.port, {});
    const sockets = [];
    try {
      const sample = () => Object.fromEntries(Object.entries(path.sides).map(([side, pids]) => [side, rssSum(pids)]));
      if (CHURN > 0) await closeAll(sink, await openThrough(sink, path.port, CHURN, `${name} idle churn`), `${name} idle churn`);
      sockets.push(...(await openThrough(sink, path.port, IDLE, `${name} idle`)));
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const before = sample();
      sockets.push(...(await openThrough(sink, path.port, IDLE, `${name} idle`)));
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const after = sample();
      out[name] = Object.fromEntries(Object.keys(before).map((side) => [side, (after[side] - before[side]) / IDLE]));
    } finally {
      await closeAll(sink, sockets, `${name} idle`).catch(() => {});
      await path.stop();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** @param {import('./run.mjs').BenchContext} ctx */
export async function run(ctx) {
  if (process.platform !== 'linux') throw new Error('bench/user.mjs reads /proc: Linux only');
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: build first (npm run build)');
  const mib = `${TOTAL / MiB} MiB`;
  const cases = {
    freshTput: `fresh relay+device, 1 visitor, ${mib}, throughput (vs node:net pipe processes)`,
    freshCpu: `fresh relay+device, 1 visitor, ${mib}, CPU per byte (vs pipe processes)`,
    churnTput: `after ${CHURN} visitors, 1 visitor, ${mib}, throughput (vs pipe processes)`,
    churnCpu: `after ${CHURN} visitors, 1 visitor, ${mib}, CPU per byte (vs pipe processes)`,
    churnRss: `after ${CHURN} visitors, RSS growth of relay+device while streaming (vs pipes' growth + 16 MiB)`,
    idleRelay: `after ${CHURN} visitors, relay RSS per idle visitor, ${IDLE} opened beside ${IDLE} (vs 8 KiB)`,
    idleDevice: `after ${CHURN} visitors, device RSS per idle visitor, ${IDLE} opened beside ${IDLE} (vs 8 KiB)`,
    sshTput: `after ${CHURN} visitors, 1 visitor, ${mib}, throughput (vs OpenSSH -R)`,
    sshCpu: `after ${CHURN} visitors, 1 visitor, ${mib}, CPU per byte (vs OpenSSH -R)`,
    sshRss: `after ${CHURN} visitors, RSS growth while streaming (vs OpenSSH -R)`,
    sshIdleRelay: `relay RSS per idle visitor (vs sshd)`,
    sshIdleDevice: `device RSS per idle visitor (vs ssh)`,
    tunedTput: `extra, both paths with GLIBC_TUNABLES keeping freed memory (not a user's default): after ${CHURN} visitors, 1 visitor, ${mib}, throughput (vs pipe processes)`,
    tunedCpu: `extra, both paths with GLIBC_TUNABLES keeping freed memory (not a user's default): after ${CHURN} visitors, 1 visitor, ${mib}, CPU per byte (vs pipe processes)`,
  };
  const tuned = process.env.BENCH_USER_TUNABLES === '1';
  const wanted = (key) => (tuned || !key.startsWith('tuned')) && (!ctx.filter || `user ${cases[key]}`.includes(ctx.filter));
  const any = (...keys) => keys.some(wanted);

  const dir = mkdtempSync(join(tmpdir(), 'mproxy-bench-user-'));
  const offSignals = onSignals(() => rmSync(dir, { recursive: true, force: true }));
  let absent = process.env.BENCH_USER_SSH === '0' ? 'BENCH_USER_SSH=0' : sshAbsent();
  if (!absent) {
    // The reference is optional: an sshd that does not come up here leaves its rows out
    // rather than the whole module.
    try {
      const probe = await startSsh(await freePort(), dir);
      await probe.stop();
    } catch (error) {
      absent = `it did not start: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (absent) ctx.log(`  OpenSSH reference: absent (${absent}); its rows are left out`);
  else ctx.log(`  OpenSSH reference: ${SSHD}, ${CIPHER}`);

  const prof = process.env.BENCH_USER_PROF;
  if (prof) mkdirSync(prof, { recursive: true });
  const starters = {
    mproxy: (sinkPort, opts) => startMproxy(sinkPort, dir, opts),
    pipes: (sinkPort, opts) => startPipes(sinkPort, opts),
    ...(absent ? {} : { openssh: (sinkPort) => startSsh(sinkPort, dir) }),
  };
  const sinks = {};
  const rows = [];
  // The environment the bench passes on; what the mproxy processes ran with is in each row's
  // mproxy.processSettings (they restart with settings of their own on Node >= 22.15).
  const environment = { benchAllocator: process.env.GLIBC_TUNABLES ? `GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}` : 'default', benchNodeOptions: process.env.NODE_OPTIONS ?? '' };
  const common = {
    totalMiB: TOTAL / MiB,
    transfers: TRANSFERS,
    pick: 'median',
    clock: 'wall (throughput); /proc/PID/stat user+system of the relaying processes (CPU)',
    ...environment,
    ...(absent ? { opensshAbsent: absent } : {}),
  };
  try {
    for (const name of Object.keys(starters)) sinks[name] = await startSink();
    const push = (key, row) => wanted(key) && rows.push({ group: 'user', case: cases[key], ...row });
    const tputRows = (summary, tputKey, cpuKey, churn) => {
      const m = summary.mproxy;
      const p = summary.pipes;
      const detail = { ...common, churn, mproxy: m, pipes: p, openssh: summary.openssh };
      push(tputKey, { mproxy: m.MBps * 1e6, baseline: p.MBps * 1e6, unit: 'B/s', target: TARGET.throughput, detail });
      push(cpuKey, { mproxy: m.cpuMsPerMiB, baseline: p.cpuMsPerMiB, unit: 'CPU ms/MiB', better: 'lower', target: TARGET.cpu, detail });
    };

    if (any('freshTput', 'freshCpu')) {
      const s = await transferPhase(ctx, sinks, starters, { churn: false, prof });
      tputRows(s, 'freshTput', 'freshCpu', 0);
    }
    if (any('churnTput', 'churnCpu', 'churnRss', 'sshTput', 'sshCpu', 'sshRss')) {
      const s = await transferPhase(ctx, sinks, starters, { churn: true, prof });
      tputRows(s, 'churnTput', 'churnCpu', CHURN);
      const growth = { mproxy: s.mproxy.rssGrowth, pipes: s.pipes.rssGrowth, openssh: s.openssh?.rssGrowth };
      push('churnRss', {
        mproxy: growth.mproxy,
        baseline: growth.pipes + TARGET.streamingSlack,
        unit: 'bytes',
        better: 'lower',
        target: 1,
        detail: { ...common, churn: CHURN, method: 'peak of summed VmRSS during the transfers minus the sum before the first', growthMiB: Object.fromEntries(Object.entries(growth).map(([k, v]) => [k, v === undefined ? null : round2(v / MiB)])) },
      });
      if (s.openssh) {
        const detail = { ...common, churn: CHURN, cipher: CIPHER, opensshVsPipes: { throughput: round2(s.openssh.MBps / s.pipes.MBps), cpuPerByte: round2(s.openssh.cpuMsPerMiB / s.pipes.cpuMsPerMiB) } };
        push('sshTput', { mproxy: s.mproxy.MBps * 1e6, baseline: s.openssh.MBps * 1e6, unit: 'B/s', target: null, detail });
        push('sshCpu', { mproxy: s.mproxy.cpuMsPerMiB, baseline: s.openssh.cpuMsPerMiB, unit: 'CPU ms/MiB', better: 'lower', target: null, detail });
        push('sshRss', { mproxy: growth.mproxy, baseline: growth.openssh, unit: 'bytes', better: 'lower', target: null, detail });
      }
    }
    if (any('tunedTput', 'tunedCpu')) {
      // The allocator setting the runner used to export (freed memory stays resident): what it
      // changes for the same churned transfers. Extra, opt-in, labelled: no user runs it.
      const env = { ...process.env, GLIBC_TUNABLES: TUNABLES };
      const { openssh, ...nodePaths } = starters;
      const s = await transferPhase(ctx, sinks, nodePaths, { churn: true, env, label: 'churned, GLIBC_TUNABLES' });
      tputRows(s, 'tunedTput', 'tunedCpu', CHURN);
      for (const key of ['tunedTput', 'tunedCpu']) {
        const row = rows.find((r) => r.case === cases[key]);
        if (row) {
          row.target = null;
          row.detail.GLIBC_TUNABLES = TUNABLES;
        }
      }
    }
    if (any('idleRelay', 'idleDevice', 'sshIdleRelay', 'sshIdleDevice')) {
      const reps = [];
      for (let rep = 0; rep < IDLE_REPS; rep++) {
        const r = await idleOnce(sinks, starters);
        reps.push(r);
        ctx.log(
          `  idle ${rep + 1}: ` +
            Object.entries(r)
              .map(([name, sides]) => `${name} ${Object.entries(sides).map(([side, v]) => `${side} ${(v / KiB).toFixed(1)}`).join(' / ')} KiB`)
              .join(', '),
        );
      }
      const pick = (name, side) => median(reps.map((r) => r[name][side]));
      const samples = (name, side) => reps.map((r) => Math.round(r[name][side]));
      for (const side of ['relay', 'device']) {
        const detail = {
          visitors: IDLE,
          beside: IDLE,
          settleMs: SETTLE_MS,
          repetitions: IDLE_REPS,
          pick: 'median',
          method: 'plain VmRSS of the process, growth over the second batch of visitors, per visitor',
          samples: samples('mproxy', side),
          pipes: { median: Math.round(pick('pipes', side)), samples: samples('pipes', side) },
          ...(starters.openssh ? { openssh: { median: Math.round(pick('openssh', side)), samples: samples('openssh', side) } } : {}),
          ...environment,
        };
        const mine = pick('mproxy', side);
        push(side === 'relay' ? 'idleRelay' : 'idleDevice', { mproxy: mine, baseline: TARGET.idle, unit: 'B/visitor', better: 'lower', target: 1, detail });
        if (starters.openssh) {
          push(side === 'relay' ? 'sshIdleRelay' : 'sshIdleDevice', { mproxy: mine, baseline: pick('openssh', side), unit: 'B/visitor', better: 'lower', target: null, detail });
        }
      }
    }
  } finally {
    killAll();
    offSignals();
    await Promise.all(Object.values(sinks).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
