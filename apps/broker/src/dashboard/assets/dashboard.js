// The Sluice dashboard: fetches /dashboard/data (same admin credentials as the page) and draws
// hand-written SVG charts. No library: a few line and bar charts do not earn one. Data is only
// ever written with textContent / attributes, never as HTML.

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#2f6fde', '#e5793b', '#2aa876', '#c23b6e', '#7a5cd6', '#b8a11f', '#1c9fb5', '#8a6d4b'];
const W = 900;
const H = 260;
const PAD = { left: 64, right: 16, top: 12, bottom: 28 };

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, anchor) {
  const t = el('text', { x, y, 'text-anchor': anchor || 'start' }, parent);
  t.textContent = content;
  return t;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function legend(container, items) {
  const box = document.createElement('div');
  box.className = 'legend';
  for (const item of items) {
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = item.color;
    span.appendChild(swatch);
    span.appendChild(document.createTextNode(item.label));
    box.appendChild(span);
  }
  container.appendChild(box);
}

function empty(container, message) {
  container.replaceChildren();
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = message;
  container.appendChild(p);
}

/** A line chart: one path per series over shared x labels; optional horizontal limit lines. */
function lineChart(container, name, labels, series, format, limits) {
  container.replaceChildren();
  if (series.length === 0) return empty(container, 'no data in this range');
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, 'data-chart': name, role: 'img' }, container);
  const all = series.flatMap((s) => s.values).concat((limits || []).map((l) => l.value));
  const max = niceMax(Math.max(0, ...all));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (labels.length <= 1 ? iw / 2 : (i * iw) / (labels.length - 1));
  const y = (v) => PAD.top + ih - (v / max) * ih;
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    el('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }, svg);
    text(svg, PAD.left - 6, y(v) + 4, format(v), 'end');
  }
  el('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0) }, svg);
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0) text(svg, x(i), H - 8, label, 'middle');
  });
  series.forEach((s, n) => {
    const color = COLORS[n % COLORS.length];
    const d = s.values.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    el(
      'path',
      {
        d,
        fill: 'none',
        stroke: color,
        'stroke-width': 2,
        'data-series': s.label,
        'data-points': s.values.length,
      },
      svg,
    );
    s.values.forEach((v, i) => {
      if (v > 0) el('circle', { cx: x(i), cy: y(v), r: 2.5, fill: color }, svg);
    });
  });
  for (const l of limits || []) {
    el(
      'line',
      {
        x1: PAD.left,
        x2: W - PAD.right,
        y1: y(l.value),
        y2: y(l.value),
        stroke: '#c23b3b',
        'stroke-dasharray': '6 4',
        'data-limit': l.label,
      },
      svg,
    );
    text(svg, W - PAD.right, y(l.value) - 4, `${l.label} limit`, 'end');
  }
  legend(
    container,
    series.map((s, n) => ({ label: s.label, color: COLORS[n % COLORS.length] })),
  );
}

/** Stacked bars: one bar per category, one segment per part. */
function stackedBars(container, name, categories, parts) {
  container.replaceChildren();
  const svg = el('svg', { viewBox: `0 0 ${W / 2} ${H}`, 'data-chart': name, role: 'img' }, container);
  const totals = categories.map((_, i) => parts.reduce((a, p) => a + p.values[i], 0));
  const max = Math.max(4, niceMax(Math.max(0, ...totals)));
  const iw = W / 2 - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + ih - (v / max) * ih;
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    el('line', { class: 'grid', x1: PAD.left, x2: W / 2 - PAD.right, y1: y(v), y2: y(v) }, svg);
    text(svg, PAD.left - 6, y(v) + 4, String(Math.round(v)), 'end');
  }
  const slot = iw / categories.length;
  categories.forEach((c, i) => {
    let base = 0;
    parts.forEach((p, n) => {
      const v = p.values[i];
      if (v > 0) {
        el(
          'rect',
          {
            x: PAD.left + i * slot + slot * 0.2,
            width: slot * 0.6,
            y: y(base + v),
            height: y(base) - y(base + v),
            fill: COLORS[n % COLORS.length],
            'data-bar': `${c}:${p.label}`,
            'data-value': v,
          },
          svg,
        );
      }
      base += v;
    });
    text(svg, PAD.left + i * slot + slot / 2, H - 8, `${c} (${totals[i]})`, 'middle');
  });
  el('line', { class: 'axis', x1: PAD.left, x2: W / 2 - PAD.right, y1: y(0), y2: y(0) }, svg);
  legend(
    container,
    parts.map((p, n) => ({ label: p.label, color: COLORS[n % COLORS.length] })),
  );
}

const usd = (micros) => (micros / 1e6).toFixed(micros > 0 && micros < 10_000 ? 6 : 2);
const compact = (v) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v));

function fillTable(selector, rows) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren();
  for (const cells of rows) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function render(data) {
  const labels = data.periods.map((p) => (data.by === 'hour' ? p.slice(11, 16) : p.slice(5)));
  lineChart(
    document.getElementById('chart-cost'),
    'cost',
    labels,
    data.tenants.map((t) => ({ label: t.name, values: t.costMicros })),
    (v) => `$${usd(v)}`,
  );
  lineChart(
    document.getElementById('chart-tokens'),
    'tokens',
    labels,
    data.tenants.map((t) => ({ label: t.name, values: t.tokens })),
    compact,
  );
  stackedBars(
    document.getElementById('chart-queue'),
    'queue',
    data.queueDepth.map((q) => q.priority),
    ['queued', 'dispatched', 'retrying'].map((status) => ({
      label: status,
      values: data.queueDepth.map((q) => q[status]),
    })),
  );
  lineChart(
    document.getElementById('chart-quota'),
    'quota',
    labels,
    data.quota.map((q) => ({ label: `${q.model} (${q.pool})`, values: q.tokensPerMinute })),
    compact,
    data.quota.filter((q) => q.tpmLimit).map((q) => ({ label: q.model, value: q.tpmLimit })),
  );
  const pct = (ratio, limit) => `${(ratio * 100).toFixed(1)}% of ${limit === null ? '?' : compact(limit)}`;
  fillTable(
    '#live',
    data.live.map((l) => [
      l.pool,
      l.model,
      pct(l.rpmUtilisation, l.rpmLimit),
      pct(l.tpmUtilisation, l.tpmLimit),
      l.learned ? 'learned' : 'probing',
      l.pausedForMs > 0 ? `${(l.pausedForMs / 1000).toFixed(1)} s` : '-',
      l.dispatcherId,
    ]),
  );
  fillTable(
    '#tenants',
    data.tenants.map((t) => [
      t.name,
      String(t.requests.reduce((a, b) => a + b, 0)),
      compact(t.tokens.reduce((a, b) => a + b, 0)),
      usd(t.totalCostMicros),
    ]),
  );
  document.getElementById('status').textContent =
    `updated ${new Date(data.generatedAt).toLocaleTimeString()}`;
  document.body.dataset.loaded = 'true';
}

async function refresh() {
  const hours = document.getElementById('range').value;
  try {
    const res = await fetch(`/dashboard/data?hours=${encodeURIComponent(hours)}`, {
      credentials: 'same-origin',
    });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    render(await res.json());
  } catch (error) {
    document.getElementById('status').textContent = `cannot load data: ${error.message}`;
  }
}

document.getElementById('range').addEventListener('change', refresh);
refresh();
setInterval(refresh, 10_000);
