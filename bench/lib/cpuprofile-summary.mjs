#!/usr/bin/env node
// Summarises V8 CPU profiles (`node --cpu-prof` writes them; `BENCH_USER_PROF=<dir>` makes the
// user bench's relay and device write one each): self time by function, by file and by
// package, as a share of the time the process was not idle.
//
//   node bench/lib/cpuprofile-summary.mjs [--from-ms N] [--to-ms N] [--top N] FILE.cpuprofile ...
//
// --from-ms / --to-ms keep only the samples taken that many ms after the profile started (the
// user bench logs when its transfers start and end, counted from each process's start).
// "(garbage collector)" is V8's GC on the main thread, "(program)" native work that V8 cannot
// attribute to a JavaScript function (libuv, syscalls, page faults, the runtime's C++ not
// called from JS), "(idle)" the event loop waiting: it is left out of the shares.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i === -1) return fallback;
  const value = Number(args[i + 1]);
  args.splice(i, 2);
  return value;
};
const fromMs = option('--from-ms', 0);
const toMs = option('--to-ms', Infinity);
const top = option('--top', 25);
if (args.length === 0) {
  console.error('usage: cpuprofile-summary.mjs [--from-ms N] [--to-ms N] [--top N] FILE.cpuprofile ...');
  process.exit(2);
}

/** Where a function lives: a package under node_modules, Node's own code, mproxy's dist, … */
function packageOf(url) {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: (Node core)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return 'mproxy (dist)';
  return url;
}

function shortUrl(url) {
  if (!url) return '';
  const m = /node_modules\/(.*)$/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return `dist/${url.split('/dist/')[1]}`;
  return url.replace(/^file:\/\//, '');
}

function table(title, map, busy) {
  console.log(`\n${title}`);
  const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, us] of rows) {
    console.log(`${((100 * us) / busy).toFixed(1).padStart(6)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  }
}

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map();
  const byFile = new Map();
  const byPackage = new Map();
  let t = 0;
  let busy = 0;
  let idle = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t / 1000 < fromMs || t / 1000 > toMs) continue;
    const node = nodes.get(profile.samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const name = functionName || '(anonymous)';
    add(byFunction, url ? `${name}  ${shortUrl(url)}:${lineNumber + 1}` : name, dt);
    add(byFile, url ? shortUrl(url) : name, dt);
    add(byPackage, url ? packageOf(url) : name, dt);
  }
  console.log(`== ${basename(file)}: ${(busy / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle in the window`);
  table('self time by package', byPackage, busy);
  table('self time by file', byFile, busy);
  table('self time by function', byFunction, busy);
}
