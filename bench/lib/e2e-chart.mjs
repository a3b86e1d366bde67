// bench/results.svg for bench/e2e.mjs: hand-written SVG, no dependencies. Three panels:
// throughput against the number of visitors, p99 round-trip latency against the number of
// visitors (both for mproxy and plain node:net pipes), and the one-visitor throughput bars
// (mproxy, node:net pipes, multiplex; TCP service and TLS passthrough).

const COLORS = { mproxy: '#2563eb', pipes: '#9ca3af', multiplex: '#f59e0b' };
const LABELS = { mproxy: 'mproxy', pipes: 'node:net pipes (no framing)', multiplex: 'multiplex' };
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

const W = 980;
const H = 400;
const PANEL = { w: 250, h: 240, top: 80 };

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A "nice" axis maximum and step covering `max` with about 4-5 ticks. */
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough) ?? 10 * mag;
  return { top: Math.ceil((max * 1.05) / step) * step, step };
}

function fmtMicros(us) {
  if (us >= 1000) return `${+(us / 1000).toFixed(us >= 10_000 ? 0 : 1)} ms`;
  return `${Math.round(us)} µs`;
}

function fmtTick(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Linear ticks from 0 to `top` every `step`. */
function linearTicks(top, step) {
  const ticks = [];
  for (let v = 0; v <= top + 1e-9; v += step) ticks.push({ at: v / top, label: fmtTick(v) });
  return ticks;
}

/** Axes, grid, ticks and titles of one panel at (x0, y0) (its plot area's top left). */
function axes(x0, y0, { title, yLabel, yTicks, xTicks }) {
  const { w, h } = PANEL;
  const out = [];
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 22}" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text>`);
  for (const { at, label } of yTicks) {
    const y = y0 + h - at * h;
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#374151">${esc(label)}</text>`);
  }
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + h}" stroke="#374151"/>`);
  out.push(`<line x1="${x0}" y1="${y0 + h}" x2="${x0 + w}" y2="${y0 + h}" stroke="#374151"/>`);
  for (const { x, label } of xTicks) {
    out.push(`<line x1="${x}" y1="${y0 + h}" x2="${x}" y2="${y0 + h + 4}" stroke="#374151"/>`);
    out.push(`<text x="${x}" y="${y0 + h + 17}" text-anchor="middle" font-size="11" fill="#374151">${esc(label)}</text>`);
  }
  out.push(
    `<text transform="translate(${x0 - 48} ${y0 + h / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#111827">${esc(yLabel)}</text>`,
  );
  return out;
}

/**
 * A line panel: one series per kind, x = visitors (1, 100, 1000 evenly spaced). `log` puts y
 * on a log scale with a tick per power of ten (labelled by `tickFmt`).
 */
function linePanel(x0, y0, { title, yLabel, series, value, unitFmt, log = false, tickFmt = fmtTick }) {
  const visitors = [...new Set(series.flatMap((s) => s.points.map((p) => p.visitors)))].sort((a, b) => a - b);
  const xOf = (n) => x0 + 30 + (visitors.indexOf(n) * (PANEL.w - 60)) / Math.max(1, visitors.length - 1);
  const values = series.flatMap((s) => s.points.map(value));
  let at;
  let yTicks;
  if (log) {
    const lo = Math.floor(Math.log10(Math.min(...values)));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
    at = (v) => (Math.log10(v) - lo) / (hi - lo);
    yTicks = [];
    for (let e = lo; e <= hi; e++) yTicks.push({ at: (e - lo) / (hi - lo), label: tickFmt(10 ** e) });
  } else {
    const { top, step } = niceScale(Math.max(...values));
    at = (v) => v / top;
    yTicks = linearTicks(top, step);
  }
  const yOf = (v) => y0 + PANEL.h - at(v) * PANEL.h;
  const out = axes(x0, y0, {
    title,
    yLabel,
    yTicks,
    xTicks: visitors.map((n) => ({ x: xOf(n), label: String(n) })),
  });
  out.push(`<text x="${x0 + PANEL.w / 2}" y="${y0 + PANEL.h + 34}" text-anchor="middle" font-size="12" fill="#111827">visitors at once</text>`);
  for (const s of series) {
    const pts = s.points.map((p) => `${xOf(p.visitors).toFixed(1)},${yOf(value(p)).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS[s.kind]}" stroke-width="2.5"/>`);
    for (const p of s.points) {
      const x = xOf(p.visitors);
      const y = yOf(value(p));
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${COLORS[s.kind]}"/>`);
      if (s.kind === 'mproxy') {
        out.push(`<text x="${x.toFixed(1)}" y="${(y - 8).toFixed(1)}" text-anchor="middle" font-size="10" fill="${COLORS[s.kind]}">${esc(unitFmt(value(p)))}</text>`);
      }
    }
  }
  return out;
}

/** The grouped bars: one group per service, one bar per kind. */
function barPanel(x0, y0, { title, yLabel, groups }) {
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.MBps)));
  const { top, step } = niceScale(max);
  const yOf = (v) => y0 + PANEL.h - (v / top) * PANEL.h;
  const groupW = PANEL.w / groups.length;
  const out = axes(x0, y0, {
    title,
    yLabel,
    yTicks: linearTicks(top, step),
    xTicks: groups.map((g, i) => ({ x: x0 + groupW * (i + 0.5), label: g.label })),
  });
  groups.forEach((g, i) => {
    const barW = Math.min(28, (groupW - 24) / Math.max(1, g.bars.length));
    const start = x0 + groupW * (i + 0.5) - (barW * g.bars.length) / 2;
    g.bars.forEach((b, j) => {
      const x = start + j * barW;
      const y = yOf(b.MBps);
      out.push(`<rect x="${(x + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 + PANEL.h - y).toFixed(1)}" fill="${COLORS[b.kind]}"/>`);
      out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#111827">${Math.round(b.MBps)}</text>`);
    });
  });
  return out;
}

/**
 * @param {{ clock: 'main' | 'cpu' | 'wall', throughputClock?: 'relaying', totalMiB: number, rounds: number, latencyRounds: number,
 *   throughput: { kind: string, points: { visitors: number, MBps: number }[] }[],
 *   latency: { kind: string, points: { visitors: number, p99us: number }[] }[],
 *   oneVisitor: { label: string, bars: { kind: string, MBps: number }[] }[] }} data
 * @returns {string} the SVG document
 */
export function renderChart(data) {
  const perWhat = { wall: 'MB/s', cpu: 'MB per CPU-second', main: 'MB/s of main-thread CPU' }[data.clock] ?? 'MB/s';
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="20" y="28" font-size="16" font-weight="700" fill="#111827">mproxy end to end: visitor → relay → device → local service (127.0.0.1)</text>`,
  );
  out.push(
    `<text x="20" y="48" font-size="12" fill="#4b5563">${esc(`${data.totalMiB} MiB in 64 KiB writes; best of ${data.rounds} rounds (latency ${data.latencyRounds}). Left: relay and device as CLI processes; middle, right: all in one process`)}</text>`,
  );
  const y0 = PANEL.top + 10;
  out.push(
    ...linePanel(70, y0, {
      title: 'Throughput (all visitors together)',
      yLabel: data.throughputClock === 'relaying' ? 'MB per CPU-second of relay + device' : perWhat,
      series: data.throughput,
      value: (p) => p.MBps,
      unitFmt: (v) => Math.round(v),
    }),
  );
  out.push(
    ...linePanel(400, y0, {
      title: 'p99 of a 1-byte round trip',
      yLabel: 'p99 (log scale)',
      series: data.latency,
      value: (p) => p.p99us,
      unitFmt: fmtMicros,
      log: true,
      tickFmt: fmtMicros,
    }),
  );
  out.push(...barPanel(725, y0, { title: 'One visitor', yLabel: perWhat, groups: data.oneVisitor }));
  // Legend.
  let lx = 70;
  const ly = H - 22;
  for (const kind of ['mproxy', 'pipes', 'multiplex']) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${COLORS[kind]}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly}" font-size="12" fill="#111827">${esc(LABELS[kind])}</text>`);
    lx += 40 + LABELS[kind].length * 7;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
