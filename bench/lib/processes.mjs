// The relaying processes as users run them, for the benchmarks that measure them (bench/user.mjs,
// bench/e2e.mjs): `mproxy relay` and `mproxy device` started with the CLI (dist/cli.js), each a
// process of its own with nothing but what the CLI gives itself, and the same hops as two plain
// node:net pipe processes (bench/lib/pipe-process.mjs); and what /proc says of a process (CPU
// time, page faults, RSS, settings).
//
// Every process started here is killed when this process exits, and, while `onSignals` is in
// force, on SIGINT, SIGTERM or SIGHUP.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './e2e-paths.mjs';
import { within } from './loopback.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const CLI = join(here, '..', '..', 'dist', 'cli.js');
const PIPE = join(here, 'pipe-process.mjs');
export const HOST = '127.0.0.1';
const KiB = 1024;
const TICKS = 100; // USER_HZ on Linux
export const START_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Processes

/** Every process started by this module, killed when it ends or when this process exits. */
export const started = new Set();
export const killAll = () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
};
process.on('exit', killAll);

/**
 * While the module runs, a signal that would end this process ends its children first and
 * runs `cleanup` (the 'exit' event does not come for a signal's default action).
 */
export function onSignals(cleanup) {
  const handler = (signal) => {
    killAll();
    cleanup();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}

/**
 * Starts a process and resolves once `pattern` shows in its output (null: once it runs).
 * stdout and stderr are both read, so a full pipe never blocks it; only the last 64 KiB is
 * kept, for error messages.
 */
export function start(command, args, pattern, { env = process.env, what = command } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let output = '';
  let lines = 0;
  let matched = false;
  const result = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      const text = chunk.toString();
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
      output += text;
      if (!matched && pattern) {
        const match = pattern.exec(output);
        if (match) {
          matched = true;
          resolve({ child, match });
        }
      }
      if (output.length > 128 * KiB) output = output.slice(-64 * KiB);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    if (!pattern) child.once('spawn', () => ((matched = true), resolve({ child, match: null })));
    child.once('exit', (code, signal) => {
      if (!matched) reject(new Error(`${what} exited (${code ?? signal}) before ${pattern}: ${output.slice(-2000)}`));
    });
  });
  return within(result, START_MS, `${what} starting`).then((r) => ({
    ...r,
    output: () => output,
    lines: () => lines,
  }));
}

/** Stops a process: SIGTERM (so that --cpu-prof writes its profile), SIGKILL after 10 s. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  try {
    await within(exited, 10_000, 'a process stopping');
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

/** /proc/PID/stat from field 3 on (the command name, which may hold spaces, cut off). */
const statOf = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');

/** User + system CPU of a process so far, in ms (/proc/PID/stat fields 14 and 15). */
export function cpuOf(pid) {
  const fields = statOf(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

/** Minor page faults of a process so far (/proc/PID/stat field 10): memory touched anew. */
export const faultsOf = (pid) => Number(statOf(pid)[7]);

/** Resident set size of a process now, in bytes (VmRSS in /proc/PID/status). */
export function rssOf(pid) {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * KiB : 0;
}

/**
 * What a process runs with, read from the process itself rather than from this one's environment:
 * `mproxy relay` and `mproxy device` restart with settings of their own (docs/cli.md), so the
 * bench's environment does not say. GLIBC_TUNABLES from /proc/PID/environ, V8 flags from
 * /proc/PID/cmdline and NODE_OPTIONS.
 */
export function settingsOf(pid) {
  const entries = (file) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
  const env = Object.fromEntries(entries('environ').map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  // Node's own flags come before the script; what follows it is the CLI's.
  const argv = entries('cmdline').slice(1);
  const script = argv.findIndex((arg) => !arg.startsWith('-'));
  const flags = [...argv.slice(0, script < 0 ? argv.length : script), ...(env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
  return { allocator: env.GLIBC_TUNABLES ? `GLIBC_TUNABLES=${env.GLIBC_TUNABLES}` : 'default', v8Flags: flags.filter((flag) => !flag.startsWith('--cpu-prof')) };
}

/** A process and all its descendants (from the parent ids in /proc/PID/stat). */
export function tree(root) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ');
      parent.set(Number(name), Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    for (const [pid, ppid] of parent) if (ppid === pids[i]) pids.push(pid);
  }
  return pids;
}

// ---------------------------------------------------------------------------------------------
// Paths: each starts its relaying processes towards `sinkPort` and returns
// { port, sides: { relay: pid[], device: pid[] }, stop }.

/** `--cpu-prof` flags writing `<dir>/<phase>-<name>-<n>.cpuprofile`, or none. */
let profiles = 0;
export const profFlags = (prof, name) =>
  prof ? ['--cpu-prof', `--cpu-prof-dir=${prof.dir}`, `--cpu-prof-name=${prof.label}-${name}-${++profiles}.cpuprofile`] : [];

const cli = (args, what) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: START_MS });
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr || r.error}`);
  return r.stdout.trim();
};

export async function startMproxy(sinkPort, dir, { prof, env } = {}) {
  // As a user does: a secret from `mproxy secret`, a token from `mproxy token` for one port.
  const secretFile = join(dir, 'secret');
  if (!existsSync(secretFile)) writeFileSync(secretFile, `${cli(['secret'], 'mproxy secret')}\n`, { mode: 0o600 });
  const port = await freePort();
  const tokenFile = join(dir, `token-${port}`);
  writeFileSync(tokenFile, `${cli(['token', '--secret-file', secretFile, '--port', String(port)], 'mproxy token')}\n`, { mode: 0o600 });
  const spawnedAt = { relay: performance.now() };
  const relay = await start(
    process.execPath,
    [...profFlags(prof, 'mproxy-relay'), CLI, 'relay', '--secret-file', secretFile, '--listen', `${HOST}:0`, '--tunnel', `${HOST}:0`, '--tcp-ports', String(port)],
    /"url":"(ws:\/\/[^"]+)"[^\n]*device endpoint ready/,
    { what: 'mproxy relay', env },
  );
  try {
    spawnedAt.device = performance.now();
    const device = await start(
      process.execPath,
      [...profFlags(prof, 'mproxy-device'), CLI, 'device', '--relay', relay.match[1], '--token-file', tokenFile, '--forward', `tcp:${port}=${HOST}:${sinkPort}`],
      /serving tcp/,
      { what: 'mproxy device', env },
    );
    const deadline = Date.now() + START_MS;
    while (!/TCP port listening/.test(relay.output())) {
      if (Date.now() > deadline) throw new Error(`the relay did not listen on claimed port ${port}: ${relay.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return {
      port,
      sides: { relay: [relay.child.pid], device: [device.child.pid] },
      settings: { relay: settingsOf(relay.child.pid), device: settingsOf(device.child.pid) },
      logLines: () => ({ relay: relay.lines(), device: device.lines() }),
      spawnedAt,
      stop: () => Promise.all([stop(device.child), stop(relay.child)]),
    };
  } catch (error) {
    await stop(relay.child);
    throw error;
  }
}

export async function startPipes(sinkPort, { prof, env } = {}) {
  const spawnedAt = { device: performance.now() };
  const device = await start(process.execPath, [...profFlags(prof, 'pipes-device'), PIPE, String(sinkPort)], /listening (\d+)/, { what: 'pipe process (device hop)', env });
  spawnedAt.relay = performance.now();
  const relay = await start(process.execPath, [...profFlags(prof, 'pipes-relay'), PIPE, device.match[1]], /listening (\d+)/, { what: 'pipe process (relay hop)', env });
  return {
    port: Number(relay.match[1]),
    sides: { relay: [relay.child.pid], device: [device.child.pid] },
    spawnedAt,
    stop: () => Promise.all([stop(relay.child), stop(device.child)]),
  };
}
