// Shared measuring helper for bench modules: runs an mproxy task and its baseline side by side
// with tinybench and turns the samples into operations per second.
//
// Each pair is measured in `ctx.rounds` rounds; the order of the two sides alternates from one
// round to the next so that neither always runs on a warmer (or more fragmented) heap, and each
// side keeps its best round: on a shared machine the least disturbed round is the one closest
// to what the code can do, and both sides get the same chance at it.
import { Bench } from 'tinybench';

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

// One side, one round: a fresh Bench so each measurement starts from a collected heap.
async function measureOne(ctx, fn, clock) {
  ctx.gc();
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
