#!/usr/bin/env node
// Benchmark runner: `node bench/run.mjs [module ...]` (e.g. `node bench/run.mjs codec`).
//
// A bench module is any `bench/*.mjs` file other than this one (names starting with `_` and
// files under `bench/lib/` are helpers, not modules). It exports
//
//   export async function run(ctx: BenchContext): Promise<Row[]>
//
// where a Row is `{ group, case, mproxy, baseline, unit, ratio, target, better?, detail? }`:
//   mproxy, baseline  the two measurements, taken in the same run;
//   ratio             how many times better mproxy is, higher is better (for a "lower is
//                     better" unit such as latency the module returns baseline/mproxy);
//                     computed as mproxy/baseline when the module leaves it out;
//   target            the minimum ratio, or null for a row reported without a verdict;
//   better: 'lower'   instead: ratio is mproxy/baseline (a cost, such as CPU per byte) and
//                     target the maximum ratio, printed as `<= target`.
//
// Prints one table for every module run, marks each row PASS or MISS, writes
// bench/results.json. Exit code 0 even when targets are missed; 1 when a module crashed
// (its error is printed, the other modules still run); 2 on a bad command line.
//
// Each module runs in a fresh Node process of its own (this file, forked with `--module NAME`),
// so that what one module leaves behind (a heap grown by micro-benchmarks, allocator arenas,
// compiled code, open handles) is not counted against the next one.
//
// Environment: the runner and every process a module starts run with the environment the
// user has (no allocator setting or V8 flag of the runner's own): a figure is what a user's
// process pays. No module forces a GC before a timed measurement; ctx.gc (made reachable on its
// first call, without a command-line flag) serves only figures taken after the timed ones, such
// as the tunnel's heap per client, which need one.
import { fork } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fmt } from './lib/measure.mjs';

/**
 * @typedef {object} BenchContext
 * @property {string} module      the module's name (`codec`, `tunnel`, …)
 * @property {number} timeMs      tinybench time budget per task (env BENCH_TIME_MS, default 500)
 * @property {number} warmupMs    tinybench warmup budget per task (env BENCH_WARMUP_MS, default 100)
 * @property {number} rounds      rounds per pair, sides alternating (env BENCH_ROUNDS, default 2)
 * @property {'cpu' | 'wall'} clock  what a sample measures: process CPU time (default) or wall
 *                                time (env BENCH_CLOCK)
 * @property {string} filter      only rows whose `group case` contains this (env BENCH_FILTER)
 * @property {(message: string) => void} log  progress line on stderr
 * @property {() => void} gc      full garbage collection (a no-op if it cannot be exposed)
 */

const here = dirname(fileURLToPath(import.meta.url));
// Modules named here run first and in this order; any other module follows, alphabetically.
const PREFERRED_ORDER = ['codec', 'tunnel'];

function discover() {
  const names = readdirSync(here)
    .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.startsWith('_') && !f.startsWith('.'))
    .map((f) => f.slice(0, -'.mjs'.length));
  const rank = (n) => {
    const i = PREFERRED_ORDER.indexOf(n);
    return i === -1 ? PREFERRED_ORDER.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function exposeGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc');
    if (typeof gc === 'function') return gc;
  } catch {
    // Fall through: measurements still work, just without a clean heap between them.
  }
  return () => {};
}

function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`bench: ${name}=${raw} is not a positive number`);
    process.exit(2);
  }
  return n;
}

function verdict(row) {
  if (row.target === null || row.target === undefined) return '-';
  if (!Number.isFinite(row.ratio)) return 'MISS';
  const met = row.better === 'lower' ? row.ratio <= row.target : row.ratio >= row.target;
  return met ? 'PASS' : 'MISS';
}

function printTable(rows) {
  const header = ['group', 'case', 'mproxy', 'baseline', 'unit', 'ratio', 'target', 'result'];
  const lines = rows.map((r) => [
    r.group,
    r.case,
    fmt(r.mproxy),
    fmt(r.baseline),
    r.unit,
    Number.isFinite(r.ratio) ? `x${r.ratio.toFixed(2)}` : String(r.ratio),
    r.target === null || r.target === undefined ? '-' : `${r.better === 'lower' ? '<=' : '>='} ${r.target}`,
    r.result,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const numeric = new Set([2, 3, 5]);
  const cell = (text, i) => (numeric.has(i) ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
  for (const l of lines) console.log(line(l));
}

/** What every module is told, from the environment. */
function readSettings() {
  return {
    timeMs: envNumber('BENCH_TIME_MS', 500),
    warmupMs: envNumber('BENCH_WARMUP_MS', 100),
    rounds: Math.round(envNumber('BENCH_ROUNDS', 2)),
    clock: process.env.BENCH_CLOCK === 'wall' ? 'wall' : 'cpu',
    filter: process.env.BENCH_FILTER ?? '',
    allocator: process.env.GLIBC_TUNABLES ? `GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES} (the environment's)` : 'default',
  };
}

/** Child side: runs one module, sends back its rows (or its crash) and exits. */
async function runModule(name, settings) {
  let collect;
  const gc = () => (collect ??= exposeGc())();
  const send = (message) => new Promise((resolve) => process.send(message, resolve));
  try {
    const mod = await import(pathToFileURL(join(here, `${name}.mjs`)).href);
    if (typeof mod.run !== 'function') throw new Error(`bench/${name}.mjs does not export run(ctx)`);
    /** @type {BenchContext} */
    const ctx = { module: name, ...settings, gc, log: (m) => console.error(m) };
    const rows = await mod.run(ctx);
    if (!Array.isArray(rows)) throw new Error(`bench/${name}.mjs run() did not return an array of rows`);
    await send({ rows });
  } catch (error) {
    await send({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
  process.disconnect();
  // A module that leaves a handle open (a server, a timer) must not keep the run waiting.
  setTimeout(() => process.exit(0), 1000).unref();
}

/**
 * Parent side: the module's rows from a fresh process, or what it crashed with. A SIGTERM or
 * SIGHUP sent to the runner goes on to the module's process, whose own clean-up stops what it
 * started; the runner then dies of the same signal. (A terminal's Ctrl-C reaches both already.)
 */
function inChild(name) {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(import.meta.url), ['--module', name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let answer;
    let stopping;
    const forward = (signal) => {
      stopping = signal;
      child.kill(signal);
    };
    const signals = ['SIGTERM', 'SIGHUP'];
    for (const signal of signals) process.on(signal, forward);
    child.on('message', (message) => (answer = message));
    // A process that could not be started reports 'error' and may never report 'exit'.
    child.on('error', (error) => resolve(answer ?? { error: `bench/${name}.mjs: ${error.message}` }));
    child.on('exit', (code, signal) => {
      for (const each of signals) process.off(each, forward);
      if (stopping) process.kill(process.pid, stopping);
      resolve(answer ?? { error: `bench/${name}.mjs: its process exited (${signal ?? code}) without rows` });
    });
  });
}

async function main() {
  const available = discover();
  const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = requested.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    console.error(`bench: unknown module(s) ${unknown.join(', ')}; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const modules = requested.length > 0 ? available.filter((n) => requested.includes(n)) : available;

  const cpus = os.cpus();
  const machine = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
  };
  const settings = readSettings();
  console.error(
    `bench: ${modules.join(', ')} on Node ${machine.node}, ${machine.cpus} x ${machine.cpuModel}; ` +
      `${settings.timeMs} ms per task, ${settings.warmupMs} ms warmup, best of ${settings.rounds} rounds, ${settings.clock} clock; ` +
      `allocator ${settings.allocator}`,
  );

  const rows = [];
  const failures = [];
  const started = Date.now();
  for (const name of modules) {
    const t0 = Date.now();
    console.error(`bench: ${name} …`);
    const answer = await inChild(name);
    if (answer.rows) {
      for (const r of answer.rows) {
        const ratio = typeof r.ratio === 'number' ? r.ratio : r.mproxy / r.baseline;
        const row = { module: name, ...r, ratio, target: r.target ?? null };
        rows.push({ ...row, result: verdict(row) });
      }
      console.error(`bench: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else {
      failures.push({ module: name, error: answer.error });
      console.error(`bench: ${name} CRASHED: ${answer.error}`);
    }
  }

  console.log('');
  console.log(`Node ${machine.node}, ${machine.platform}, ${machine.cpus} x ${machine.cpuModel}`);
  printTable(rows);
  const missed = rows.filter((r) => r.result === 'MISS').length;
  console.log(
    `${rows.length} rows, ${rows.filter((r) => r.result === 'PASS').length} PASS, ${missed} MISS` +
      (failures.length > 0 ? `, ${failures.length} module(s) crashed: ${failures.map((f) => f.module).join(', ')}` : '') +
      ` (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );

  const out = join(here, 'results.json');
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), machine, settings, modules, rows, failures }, null, 2)}\n`,
  );
  console.error(`bench: wrote ${out}`);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

const child = process.argv[2] === '--module' && process.send ? process.argv[3] : undefined;
(child ? runModule(child, readSettings()) : main()).catch((error) => {
  console.error('bench: crashed:', error);
  process.exitCode = 1;
});
