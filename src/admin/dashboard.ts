/**
 * The dashboard page: plain HTML and JavaScript, no build step and nothing fetched from the
 * internet. It reads `/api/events` (Server-Sent Events, one sample a second) and draws the
 * devices, each name's open clients and throughput, and a chart of the last minutes.
 */

/** How many samples the chart keeps: five minutes at one a second. */
const CHART_POINTS = 300;

export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mproxy dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e3e6ea; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  #status { color: #57606a; }
  #status.down { color: #b3261e; }
  svg { background: #fff; border: 1px solid #e3e6ea; width: 100%; height: 180px; }
  .legend span { margin-right: 1rem; }
  .legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
</style>
</head>
<body>
<h1>mproxy <span id="role"></span></h1>
<div id="status">connecting…</div>
<h2>Devices</h2>
<table id="devices"><thead><tr><th>device</th><th>id</th><th>address</th><th>names and ports</th><th>connected since</th><th class="num">open clients</th></tr></thead><tbody></tbody></table>
<h2>Names</h2>
<table id="names"><thead><tr><th>name</th><th>device</th><th class="num">open clients</th><th class="num">in, bytes/s</th><th class="num">out, bytes/s</th><th class="num">in, bytes</th><th class="num">out, bytes</th></tr></thead><tbody></tbody></table>
<h2>Throughput (in + out, bytes/s, last ${CHART_POINTS / 60} minutes)</h2>
<div id="chart-max" class="legend"></div>
<svg id="chart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg>
<div class="legend" id="legend"></div>
<script>
(() => {
  const token = new URLSearchParams(location.search).get('token');
  const source = new EventSource('api/events' + (token ? '?token=' + encodeURIComponent(token) : ''));
  const colors = ['#0969da', '#1a7f37', '#bf3989', '#9a6700', '#8250df', '#cf222e', '#1b7c83'];
  const history = new Map();
  let last;
  const text = (value) => document.createTextNode(String(value));
  const cell = (value, attrs) => {
    const td = document.createElement('td');
    for (const [k, v] of Object.entries(attrs || {})) td.setAttribute(k, v);
    td.appendChild(text(value));
    return td;
  };
  const row = (cells) => { const tr = document.createElement('tr'); cells.forEach((c) => tr.appendChild(c)); return tr; };
  const fill = (id, rows) => { const body = document.querySelector('#' + id + ' tbody'); body.replaceChildren(...rows); };
  source.onerror = () => { const s = document.getElementById('status'); s.textContent = 'disconnected, retrying…'; s.className = 'down'; };
  source.onmessage = (event) => {
    const sample = JSON.parse(event.data);
    const status = document.getElementById('status');
    status.className = '';
    status.textContent = 'live, ' + new Date(sample.time).toLocaleTimeString();
    document.getElementById('role').textContent = sample.role;
    fill('devices', sample.devices.map((d) => row([
      cell(d.label, { 'data-device': d.label }), cell(d.id), cell(d.address || ''),
      cell([...(d.names || []), ...((d.ports && d.ports.tcp) || []).map((p) => 'tcp:' + p), ...((d.ports && d.ports.udp) || []).map((p) => 'udp:' + p)].join(', ')),
      cell(d.connectedAt ? new Date(d.connectedAt).toLocaleString() : ''),
      cell(d.clientCount ?? (d.clients || []).length, { class: 'num' }),
    ])));
    const seconds = last ? (sample.time - last.time) / 1000 : 0;
    const before = new Map((last ? last.traffic : []).map((t) => [t.device + '\\u0000' + t.name, t]));
    const rows = [];
    for (const t of sample.traffic) {
      const key = t.device + '\\u0000' + t.name;
      const prev = before.get(key);
      const rateIn = prev && seconds > 0 ? Math.max(0, Math.round((t.bytesIn - prev.bytesIn) / seconds)) : 0;
      const rateOut = prev && seconds > 0 ? Math.max(0, Math.round((t.bytesOut - prev.bytesOut) / seconds)) : 0;
      const points = history.get(key) || [];
      points.push(rateIn + rateOut);
      if (points.length > ${CHART_POINTS}) points.shift();
      history.set(key, points);
      const at = { 'data-name': t.name, 'data-device': t.device };
      rows.push(row([
        cell(t.name), cell(t.device),
        cell(t.clients, { ...at, 'data-field': 'clients', class: 'num' }),
        cell(rateIn, { ...at, 'data-field': 'rateIn', class: 'num' }),
        cell(rateOut, { ...at, 'data-field': 'rateOut', class: 'num' }),
        cell(t.bytesIn, { ...at, 'data-field': 'bytesIn', class: 'num' }),
        cell(t.bytesOut, { ...at, 'data-field': 'bytesOut', class: 'num' }),
      ]));
    }
    fill('names', rows);
    draw();
    last = sample;
  };
  function draw() {
    const svg = document.getElementById('chart');
    const legend = document.getElementById('legend');
    const max = Math.max(1, ...[...history.values()].flat());
    const ns = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    legend.replaceChildren();
    let i = 0;
    for (const [key, points] of history) {
      const color = colors[i++ % colors.length];
      const line = document.createElementNS(ns, 'polyline');
      const offset = ${CHART_POINTS} - points.length;
      line.setAttribute('points', points.map((v, x) => ((offset + x) * 600 / ${CHART_POINTS - 1}).toFixed(1) + ',' + (175 - v / max * 165).toFixed(1)).join(' '));
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', color);
      line.setAttribute('stroke-width', '2');
      svg.appendChild(line);
      const item = document.createElement('span');
      const swatch = document.createElement('i');
      swatch.style.background = color;
      item.append(swatch, text(key.split('\\u0000').reverse().join(' on ')));
      legend.appendChild(item);
    }
    document.getElementById('chart-max').textContent = 'top of the chart: ' + max + ' bytes/s';
  }
})();
</script>
</body>
</html>
`;
}
