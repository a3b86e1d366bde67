// Cluster benchmark: a visitor forwarded across relay nodes (visitor → node A → node B →
// device → local sink) against one that lands on node B directly (visitor → node B → device →
// local sink), same run, same processes.
//
// Everything runs as users run it: a real redis-server (Debian's), the two nodes and the device
// started with the CLI (`mproxy relay --cluster …`, `mproxy device`), each a process of its
// own with Node's defaults. The visitor and the sink live in this process. One visitor writes
// TOTAL bytes in 64 KiB writes to a claimed TCP port (on A's port host, or B's), and the clock
// runs from the first write to the last byte the sink counts. Each path first carries WARMUP
// bytes, so that no measured round is a process's first transfer (V8 compiling, heaps growing).
// Rounds alternate the paths; each keeps its best round (wall clock: the work is spread over
// processes). Rounds still differ widely: see docs/performance.md, "Cluster".
//
// Placement. A cluster's nodes run on machines of their own, so a forwarded visitor's bytes
// per second are those of its slowest node, not of all its nodes' CPU added up. On one machine
// that is modelled by CPU affinity (`taskset`, which changes where a process runs, not how):
// "apart", the row with the target, puts node A (and the reference's pipe process) with this
// process on one half of the CPUs this process may use, and node B, the device and Redis on the
// other half; "shared" lets every process run on every CPU, as on a machine that hosts the
// whole cluster, and is a row of its own (no target). Every round measures both placements,
// the order alternating.
//
// Reference, same run, no target: the same visitor through a plain node:net hop in front of B
// (visitor → pipe process → node B → device → sink; bench/lib/pipe-process.mjs): what one
// process that does nothing but copy bytes costs in A's place.
//
// The CPU that forwarding adds: the user+system time of the three CLI processes (from
// /proc/PID/stat) during each transfer, per MiB, forwarded minus direct: stated in the rows'
// detail. Needs Linux (/proc), `taskset` (util-linux) and Debian's redis-server (installed with
// apt-get where it is missing, as `npm test` does).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueToken } from '../dist/index.js';
import { SECRET, freePort, writeBytes } from './lib/e2e-paths.mjs';
import { round2 } from './lib/measure.mjs';
import { cpuOf, onSignals, started } from './lib/processes.mjs';
import { ensureDebianPackage } from '../scripts/ensure-debian-package.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'cli.js');
const PIPE = join(here, 'lib', 'pipe-process.mjs');
const MiB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_CLUSTER_MIB ?? 256) * MiB;
const WARMUP = Number(process.env.BENCH_CLUSTER_WARMUP_MIB ?? 256) * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const TARGET = 0.8;
const ROUNDS = 5;

/** Starts a long-running process and resolves once `pattern` shows in its output. */
function start(command, args, pattern, children) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  // Killed with the others of bench/lib/processes.mjs if this process exits or is stopped.
  started.add(child);
  child.once('exit', () => started.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve({ child, match, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args[1] ?? command} exited ${code}: ${output}`)));
    child.once('error', reject);
  });
}

/** The CPUs a process may run on (`taskset -cp`), as a list of numbers. */
function affinityOf(pid) {
  const list = /: *([\d,-]+)\s*$/.exec(execFileSync('taskset', ['-cp', String(pid)], { encoding: 'utf8' }))?.[1];
  if (!list) throw new Error(`taskset -cp ${pid}: no CPU list`);
  return list.split(',').flatMap((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** Lets `pid` and all its threads run only on `cpus`. */
function pin(pid, cpus) {
  execFileSync('taskset', ['-a', '-cp', cpus.join(','), String(pid)], { stdio: 'ignore' });
}

async function until(condition, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** @param {import('./run.mjs').BenchContext} ctx */
export async function run(ctx) {
  const cases = {
    forwarded: 'forwarded A → B → device vs direct on B (TCP, 1 visitor)',
    piped: 'reference: a plain node:net hop → B → device vs direct on B (TCP, 1 visitor)',
    shared: 'forwarded A → B → device vs direct on B, every process on every CPU (TCP, 1 visitor)',
  };
  if (ctx.filter && !Object.values(cases).some((name) => `cluster ${name}`.includes(ctx.filter))) return [];
  ensureDebianPackage('redis-server', ['/usr/bin/redis-server'], 'bench/cluster.mjs');
  const cpus = affinityOf(process.pid);
  if (cpus.length < 2) throw new Error(`bench/cluster.mjs puts the nodes on separate CPUs, and this process may use only CPU ${cpus.join(',')}`);
  const halves = [cpus.slice(0, cpus.length >> 1), cpus.slice(cpus.length >> 1)];
  const children = [];
  let sink;
  const offSignals = onSignals(() => undefined);
  try {
    const redisPort = await freePort();
    const redis = await start('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/, children);
    const port = await freePort();
    const node = (id, portHost) =>
      start(
        process.execPath,
        [CLI, 'relay', '--json', '--secret', SECRET, '--listen', '127.0.0.1:0', '--tunnel', '127.0.0.1:0', '--port-host', portHost, '--tcp-ports', String(port),
          '--cluster', `redis://127.0.0.1:${redisPort}`, '--node-id', id, '--node-listen', '127.0.0.1:0'],
        /"url":"(ws:\/\/[^"]+)"[^\n]*device endpoint ready/,
        children,
      );
    const [a, b] = await Promise.all([node('a', '127.0.0.1'), node('b', '127.0.0.2')]);
    let counted = 0;
    sink = net.createServer((socket) => socket.on('data', (chunk) => (counted += chunk.length)).on('error', () => {}));
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    const token = await issueToken(SECRET, { ports: [port], sub: 'bench' });
    const device = await start(process.execPath, [CLI, 'device', '--json', '--relay', b.match[1], '--token', token, '--forward', `tcp:${port}=127.0.0.1:${sink.address().port}`], /serving tcp/, children);
    await until(() => /TCP port listening/.test(a.output()), 'node a to listen on the claimed port');
    const pipe = await start(process.execPath, [PIPE, String(port), '127.0.0.2'], /listening (\d+)/, children);
    const pids = [a.child.pid, b.child.pid, device.child.pid];
    const place = (placement) => {
      const [near, far] = placement === 'apart' ? halves : [cpus, cpus];
      for (const pid of [process.pid, a.child.pid, pipe.child.pid]) pin(pid, near);
      for (const pid of [b.child.pid, device.child.pid, redis.child.pid]) pin(pid, far);
    };

    const transfer = async ({ host, port, extra }, bytes) => {
      const socket = net.connect({ host, port });
      socket.on('error', () => {});
      await once(socket, 'connect');
      const from = counted;
      const measured = extra ? [...pids, extra] : pids;
      const cpu0 = measured.map(cpuOf);
      const t0 = performance.now();
      await writeBytes(socket, CHUNK, bytes);
      await until(() => counted - from >= bytes, 'the sink to count every byte', 120_000);
      const wall = performance.now() - t0;
      const each = measured.map((pid, i) => cpuOf(pid) - cpu0[i]);
      const cpu = each.reduce((sum, value) => sum + value, 0);
      socket.destroy();
      return { bytes, wall, cpu, each };
    };
    const paths = {
      forwarded: { host: '127.0.0.1', port },
      direct: { host: '127.0.0.2', port },
      piped: { host: '127.0.0.1', port: Number(pipe.match[1]), extra: pipe.child.pid },
    };
    for (const path of Object.values(paths)) await transfer(path, WARMUP);
    const results = { apart: { forwarded: [], direct: [], piped: [] }, shared: { forwarded: [], direct: [], piped: [] } };
    // Five rounds at least: each round moves TOTAL six times, and on a machine whose cores all
    // these processes share, one round in two or three is disturbed (docs/performance.md, "Cluster").
    try {
      for (let round = 0; round < Math.max(ROUNDS, ctx.rounds); round++) {
        for (const placement of round % 2 === 0 ? ['apart', 'shared'] : ['shared', 'apart']) {
          place(placement);
          const order = round % 2 === 0 ? ['forwarded', 'direct', 'piped'] : ['piped', 'direct', 'forwarded'];
          for (const name of order) {
            const result = await transfer(paths[name], TOTAL);
            results[placement][name].push(result);
            ctx.log(`  cluster ${placement} ${name}: ${round2(result.bytes / MiB / (result.wall / 1000))} MiB/s, ${round2(result.cpu / (result.bytes / MiB))} CPU ms/MiB`);
          }
        }
      }
    } finally {
      pin(process.pid, cpus);
    }
    const rowsOf = (placement) => {
      const of = results[placement];
      const best = (name) => Math.max(...of[name].map((r) => r.bytes / (r.wall / 1000)));
      const cpuPerMiB = (name) => Math.min(...of[name].map((r) => r.cpu / (r.bytes / MiB)));
      // Per process (node a, node b, device, and the pipe of the reference path), from the round
      // with the least CPU in all.
      const perProcess = (name) => {
        const least = of[name].reduce((best, r) => (r.cpu / r.bytes < best.cpu / best.bytes ? r : best));
        const [nodeA, nodeB, device, pipe] = least.each.map((ms) => round2(ms / (least.bytes / MiB)));
        return pipe === undefined ? { nodeA, nodeB, device } : { nodeA, nodeB, device, pipe };
      };
      const mbps = (name) => of[name].map((r) => round2(r.bytes / 1e6 / (r.wall / 1000)));
      const cpusOf = placement === 'apart' ? { visitorNodeAPipe: halves[0], nodeBDeviceRedis: halves[1] } : { every: cpus };
      return {
        forwarded: {
          mproxy: best('forwarded'),
          baseline: best('direct'),
          detail: {
            placement,
            cpus: cpusOf,
            totalMiB: TOTAL / MiB,
            warmupMiB: WARMUP / MiB,
            forwardedMBps: mbps('forwarded'),
            directMBps: mbps('direct'),
            cpuMsPerMiB: { forwarded: round2(cpuPerMiB('forwarded')), direct: round2(cpuPerMiB('direct')) },
            cpuMsPerMiBByProcess: { forwarded: perProcess('forwarded'), direct: perProcess('direct') },
            forwardingAddsCpuMsPerMiB: round2(cpuPerMiB('forwarded') - cpuPerMiB('direct')),
            plainHopVsDirect: round2(best('piped') / best('direct')),
          },
        },
        piped: {
          mproxy: best('piped'),
          baseline: best('direct'),
          detail: {
            placement,
            cpus: cpusOf,
            totalMiB: TOTAL / MiB,
            pipedMBps: mbps('piped'),
            directMBps: mbps('direct'),
            cpuMsPerMiB: { piped: round2(cpuPerMiB('piped')), direct: round2(cpuPerMiB('direct')) },
            cpuMsPerMiBByProcess: { piped: perProcess('piped') },
            plainHopAddsCpuMsPerMiB: round2(cpuPerMiB('piped') - cpuPerMiB('direct')),
          },
        },
      };
    };
    const apart = rowsOf('apart');
    const shared = rowsOf('shared');
    const rows = [
      { group: 'cluster', case: cases.forwarded, ...apart.forwarded, unit: 'B/s', target: TARGET },
      { group: 'cluster', case: cases.piped, ...apart.piped, unit: 'B/s' },
      { group: 'cluster', case: cases.shared, ...shared.forwarded, unit: 'B/s', detail: { ...shared.forwarded.detail, reference: shared.piped.detail } },
    ];
    return rows.filter((row) => !ctx.filter || `cluster ${row.case}`.includes(ctx.filter));
  } finally {
    offSignals();
    for (const child of children.reverse()) child.kill('SIGKILL');
    // A listening sink would keep the runner alive after the last module.
    sink?.close();
  }
}
