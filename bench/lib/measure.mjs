// Shared measuring helpers for bench modules: runs an mproxy task and its baseline side by side
// with tinybench and turns the samples into operations per second; runs hand-timed
// configurations (tunnel, e2e) in alternating rounds and sums up their transfers.
//
// Each pair is measured in `ctx.rounds` rounds; the order of the two sides alternates from one
// round to the next so that neither always runs on a warmer (or more fragmented) heap, and each
// side keeps its best round: on a shared machine the least disturbed round is the one closest
// to what the code can do, and both sides get the same chance at it.
import { Bench } from 'tinybench';

const MiB = 1024 * 1024;

/**
 * @typedef {object} Pair
 * @property {string} group
 * @property {string} case
 * @property {string} unit            e.g. 'frames/s' (higher is better)
 * @property {number} target          minimum mproxy/baseline ratio
 * @property {number} opsPerCall      how many operations one call of `mproxy`/`baseline` performs
 * @property {() => unknown} mproxy
 * @property {() => unknown} baseline
 * @property {'cpu' | 'wall'} [clock]  overrides ctx.clock (e.g. 'wall' for latency over sockets)
 */

/**
 * @param {import('../run.mjs').BenchContext} ctx
 * @param {Pair[]} pairs
 * @returns {Promise<object[]>} rows for run.mjs
 */
export async function comparePairs(ctx, pairs) {
  const rows = [];
  for (const pair of pairs) {
    if (ctx.filter && !`${pair.group} ${pair.case}`.includes(ctx.filter)) continue;
    const best = { mproxy: null, baseline: null };
    for (let round = 0; round < ctx.rounds; round++) {
      const order = round % 2 === 0 ? ['mproxy', 'baseline'] : ['baseline', 'mproxy'];
      for (const side of order) {
        const m = await measureOne(ctx, pair[side], pair.clock ?? ctx.clock);
        const ops = (pair.opsPerCall * 1000) / m.meanMs;
        if (best[side] === null || ops > best[side].ops) best[side] = { ops, rme: m.rme, samples: m.samples };
      }
    }
    const row = {
      group: pair.group,
      case: pair.case,
      mproxy: best.mproxy.ops,
      baseline: best.baseline.ops,
      unit: pair.unit,
      ratio: best.mproxy.ops / best.baseline.ops,
      target: pair.target,
      detail: {
        rounds: ctx.rounds,
        clock: pair.clock ?? ctx.clock,
        opsPerCall: pair.opsPerCall,
        mproxyRme: round2(best.mproxy.rme),
        baselineRme: round2(best.baseline.rme),
        mproxySamples: best.mproxy.samples,
        baselineSamples: best.baseline.samples,
      },
    };
    ctx.log(
      `  ${row.group} ${row.case}: mproxy ${fmt(row.mproxy)} vs baseline ${fmt(row.baseline)} ${row.unit} (x${row.ratio.toFixed(2)})`,
    );
    rows.push(row);
  }
  return rows;
}

// CPU time of the whole process (every thread, so GC helper threads count) in milliseconds.
// On a shared machine it leaves out the time other processes hold the CPU, which wall time
// would charge to whichever side happened to be running.
function cpuNow() {
  return cpuMs(process.cpuUsage());
}

/** Milliseconds of CPU time in a `process.cpuUsage()` reading (user + system). */
export function cpuMs(usage) {
  return (usage.user + usage.system) / 1000;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// One side, one round: a fresh Bench, and no forced GC (a figure is what a process with Node's defaults pays).
async function measureOne(ctx, fn, clock) {
  const bench = new Bench({
    time: ctx.timeMs,
    warmupTime: ctx.warmupMs,
    iterations: 8,
    warmupIterations: 4,
    ...(clock === 'cpu' ? { now: cpuNow } : { timestampProvider: 'hrtimeNow' }),
    throws: true,
  });
  bench.add('task', fn);
  await bench.run();
  const result = bench.tasks[0].result;
  if (result.state !== 'completed') {
    throw result.error ?? new Error(`benchmark task ended in state ${result.state}`);
  }
  return { meanMs: result.latency.mean, rme: result.latency.rme, samples: result.latency.samplesCount };
}

/**
 * Runs every configuration `count` times: round 0 in the order `configs` declares them, round 1
 * reversed, and so on, for the same reason as the sides of a pair above (no configuration always
 * runs on the heap the same neighbour left behind). One at a time, never overlapping: they share
 * this process's thread. Returns each configuration's measurements in the order taken.
 *
 * @template M
 * @param {Record<string, () => Promise<M>>} configs
 * @param {number} count
 * @param {(name: string, measurement: M, round: number) => void} [onSample]  e.g. a progress
 *   line; `round` counts from 0
 * @returns {Promise<Record<string, M[]>>}
 */
export async function alternatingRounds(configs, count, onSample = () => {}) {
  const names = Object.keys(configs);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < count; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const m = await configs[name]();
      samples[name].push(m);
      onSample(name, m, round);
    }
  }
  return samples;
}

/**
 * @typedef {object} Transfer  one timed transfer; any other field is more milliseconds on
 *   another clock (e.g. `mainMs`)
 * @property {number} bytes
 * @property {number} ms     wall time
 * @property {number} cpuMs  process CPU time
 */

/** Bytes per second of a transfer on the clock whose milliseconds are in `transfer[clock]`. */
export function bytesPerSecond(transfer, clock) {
  return transfer.bytes / (transfer[clock] / 1000);
}

/** The best rate of a configuration's rounds: the least disturbed one (see the top of this file). */
export function bestBytesPerSecond(transfers, clock) {
  return Math.max(...transfers.map((t) => bytesPerSecond(t, clock)));
}

/**
 * A configuration's rounds for a row's `detail`: best and median on the row's clock plus every
 * round, so that a reader can tell one lucky round from a steady figure. `otherClocks` adds the
 * rounds on other clocks (name → field), `perMiB` the milliseconds per MiB (name → field), each
 * in the order given.
 *
 * @param {Transfer[]} transfers
 * @param {string} clock  the field whose milliseconds the row is judged by
 * @param {{ otherClocks?: Record<string, string>, perMiB?: Record<string, string> }} [options]
 */
export function throughputSummary(transfers, clock, { otherClocks = {}, perMiB = { cpuMsPerMiB: 'cpuMs' } } = {}) {
  const rates = transfers.map((t) => bytesPerSecond(t, clock));
  const summary = {
    bestMBps: round2(Math.max(...rates) / 1e6),
    medianMBps: round2(median(rates) / 1e6),
    samplesMBps: rates.map((r) => round2(r / 1e6)),
  };
  for (const [name, field] of Object.entries(otherClocks)) {
    summary[name] = transfers.map((t) => round2(t.bytes / 1e6 / (t[field] / 1000)));
  }
  for (const [name, field] of Object.entries(perMiB)) {
    summary[name] = transfers.map((t) => Math.round((t[field] / (t.bytes / MiB)) * 1000) / 1000);
  }
  return summary;
}

export function round2(x) {
  return Math.round(x * 100) / 100;
}

export function fmt(x) {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(x >= 100 ? 0 : 2);
}
