// Scalars tab: one uPlot chart per tag, selected runs overlaid, server-side per-pixel
// downsampling (extremes kept), zoom fetches finer detail, EMA smoothing, log scale, export.
// With nothing selected it shows the most recent runs (all of them when there are few, as
// TensorBoard does); a selection narrows it. A run has the same colour in every chart and tab.
"use strict";

const RECENT = 10;   // runs shown with nothing selected, until "show more"

const SC = {
  charts: new Map(),   // tag -> chart state
  tags: {},            // tag -> [handles]
  xmode: localStorage.getItem("lt.xmode") || "step",
  smoothing: +(localStorage.getItem("lt.smoothing") || 0),
  filter: "",
  limit: RECENT,
  built: false,
  els: {},
};

// The runs the charts show: the selection, else the RECENT most recent readable runs.
function scalarHandles() {
  const sel = selectedHandles();
  if (sel.length) return sel;
  return recentRuns().slice(0, SC.limit).map((r) => r.handle).sort((a, b) => a - b);
}

function recentRuns() {
  return LT.runs.filter((r) => r.status !== "unreadable")
    .sort((a, b) => (b.start_time || 0) - (a.start_time || 0) || b.handle - a.handle);
}

// From the URL: tag filter, smoothing, x axis (null: keep what the page has).
function setScalarOptions(o) {
  if (typeof o.filter === "string") SC.filter = o.filter;
  if (typeof o.smoothing === "number" && Number.isFinite(o.smoothing)) SC.smoothing = Math.min(0.99, Math.max(0, o.smoothing));
  if (X_MODES.includes(o.xmode)) SC.xmode = o.xmode;
  SC.key = null;   // lay the charts out again on the next refresh
  if (!SC.built) return;
  SC.els.filter.value = SC.filter;
  SC.els.xmode.value = SC.xmode;
  SC.els.smooth.value = SC.smoothing;
  SC.els.smoothLabel.textContent = "smoothing " + SC.smoothing.toFixed(2);
}
const X_MODES = ["step", "wall", "relative"];

function scalarNote() {
  const note = clear(SC.els.note);
  const sel = selectedHandles().length;
  const readable = recentRuns().length;
  if (sel) { note.append(`Showing the ${sel} selected run${sel > 1 ? "s" : ""}. `, h("button", { onclick: () => { LT.selected.clear(); selectionChanged(); refreshScalars(false); } }, "show recent runs instead")); return; }
  if (!readable) return;
  const shown = Math.min(readable, SC.limit);
  if (shown === readable) { note.append(`Showing all ${readable} run${readable > 1 ? "s" : ""} (nothing selected: select runs in the Runs tab to narrow).`); return; }
  const more = (n) => () => { SC.limit = n; refreshScalars(false); };
  note.append(`Showing the ${shown} most recent of ${readable} runs (nothing selected: select runs in the Runs tab to choose). `,
    h("button", { onclick: more(SC.limit + RECENT) }, `show ${Math.min(RECENT, readable - shown)} more`), " ",
    h("button", { onclick: more(Infinity) }, `show all ${readable}`));
}

function logScale(tag) { return localStorage.getItem("lt.log." + tag) === "1"; }

function ema(ys, w) {
  // Debiased exponential moving average (as TensorBoard), skipping gaps.
  if (w <= 0) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined) { out[i] = null; continue; }
    last = last * w + (1 - w) * y; n++;
    out[i] = last / (1 - Math.pow(w, n));
  }
  return out;
}

function buildScalars() {
  const root = document.getElementById("tab-scalars");
  const filter = h("input", { type: "search", placeholder: "filter tags (regex)", id: "tag-filter" });
  const xmode = h("select", { id: "xmode" }, ...[["step", "step"], ["wall", "wall time"], ["relative", "relative time"]].map(([v, l]) => h("option", { value: v }, l)));
  xmode.value = SC.xmode;
  const smooth = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: SC.smoothing, id: "smoothing" });
  const smoothLabel = h("span", { class: "muted" }, "smoothing " + SC.smoothing.toFixed(2));
  const body = h("div", { id: "scalar-groups" });
  root.append(h("div", { class: "toolbar" }, filter, h("label", null, "x axis ", xmode), h("label", null, smooth, smoothLabel),
    h("span", { class: "muted" }, "drag to zoom, double-click to reset")), body);
  filter.value = SC.filter;
  const note = h("div", { class: "scnote muted", id: "scalar-note" });
  root.insertBefore(note, body);
  filter.addEventListener("input", debounce(() => { SC.filter = filter.value; writeHash(); layoutScalars(); }, 150));
  xmode.addEventListener("change", () => { SC.xmode = xmode.value; localStorage.setItem("lt.xmode", SC.xmode); writeHash(); for (const c of SC.charts.values()) fetchChart(c, true); });
  smooth.addEventListener("input", () => {
    SC.smoothing = +smooth.value; smoothLabel.textContent = "smoothing " + SC.smoothing.toFixed(2);
    localStorage.setItem("lt.smoothing", SC.smoothing);
    writeHash();
    for (const c of SC.charts.values()) if (c.last) draw(c, c.last, false, c.zoomed ? c.range : null);
  });
  SC.els = { body, note, filter, xmode, smooth, smoothLabel };
  LT.onHighlight.push(() => { for (const c of SC.charts.values()) applyHighlight(c); });
  SC.built = true;
}

async function refreshScalars(live) {
  if (!SC.built) buildScalars();
  scalarNote();
  const handles = scalarHandles();
  if (!handles.length) { SC.tags = {}; SC.key = ""; layoutScalars(); return; }
  const key = handles.join(",");
  try {
    const t = await getJSON("/api/tags?" + qs({ runs: key }));
    if (scalarHandles().join(",") !== key) return;
    const changed = JSON.stringify(t.scalars) !== JSON.stringify(SC.tags) || SC.key !== key;
    SC.tags = t.scalars; SC.key = key; SC.errors = t.errors;
    if (changed) layoutScalars();
    else if (live) for (const c of SC.charts.values()) if (!c.zoomed && anyRunning(c)) fetchChart(c, false);
  } catch (e) {
    clear(SC.els.body).appendChild(emptyNote("could not load tags: " + e.message));
  }
}

function anyRunning(c) { return c.handles.some((hd) => (LT.byHandle.get(hd) || {}).status === "running"); }

function layoutScalars() {
  const body = clear(SC.els.body);
  for (const c of SC.charts.values()) if (c.u) c.u.destroy();
  SC.charts.clear();
  LT.drawn = 0;
  if (!scalarHandles().length) { body.appendChild(emptyNote(LT.runs.length ? "No readable runs to show." : "No runs in this directory yet.")); return; }
  let re = null;
  try { re = SC.filter ? new RegExp(SC.filter, "i") : null; } catch (e) { re = null; }
  const tags = Object.keys(SC.tags).filter((t) => !re || re.test(t));
  if (!tags.length) {
    const why = Object.keys(SC.tags).length ? "No tag matches the filter." : "No scalar tags in the selected runs.";
    body.appendChild(emptyNote(why));
    return;
  }
  document.body.dataset.chartsExpected = tags.length;
  for (const [group, gtags] of groupTags(tags)) {
    const grid = h("div", { class: "chartgrid" });
    body.appendChild(section(`${group} (${gtags.length})`, grid));
    for (const tag of gtags) {
      const c = makeChart(tag, SC.tags[tag]);
      grid.appendChild(c.card);
      SC.charts.set(tag, c);
      fetchChart(c, true);
    }
  }
}

function makeChart(tag, handles) {
  const logBox = h("input", { type: "checkbox", class: "logscale" });
  logBox.checked = logScale(tag);
  const info = h("span", { class: "points muted" }, "loading…");
  const plot = h("div", { class: "plot" });
  const legend = h("div", { class: "legend" });
  const tip = h("div", { class: "tip", hidden: true });
  const c = { tag, handles, plot, legend, tip, info, u: null, zoomed: false, last: null, seq: 0 };
  const csv = h("a", { class: "btn", title: "full-resolution CSV", onclick: () => { csv.href = "/api/scalars.csv?" + qs({ tag, runs: c.handles.join(",") }); } , href: "#", download: tag.replace(/\//g, "_") + ".csv" }, "CSV");
  const svg = h("a", { class: "btn", onclick: () => { svg.href = "/api/scalars.svg?" + qs({ tag, runs: c.handles.join(","), x: SC.xmode, log: logScale(tag) ? 1 : "" }); }, href: "#", download: tag.replace(/\//g, "_") + ".svg" }, "SVG");
  const png = h("button", { class: "btn", onclick: () => exportPng(c) }, "PNG");
  logBox.addEventListener("change", () => {
    localStorage.setItem("lt.log." + tag, logBox.checked ? "1" : "0");
    if (c.last) draw(c, c.last, true, c.zoomed ? c.range : null);
  });
  c.card = h("div", { class: "card", dataset: { tag } },
    h("div", { class: "cardhead" }, h("span", { class: "ctitle", title: tag }, tag),
      h("label", { class: "muted" }, logBox, "log"), png, svg, csv),
    plot, tip, info, legend);
  return c;
}

async function fetchChart(c, resetZoom, range) {
  const seq = ++c.seq;
  const width = Math.max(200, Math.round(c.plot.clientWidth || 480));
  const params = { tag: c.tag, runs: c.handles.join(","), width, x: SC.xmode };
  if (range) { params.xmin = range[0]; params.xmax = range[1]; }
  try {
    const data = await getJSON("/api/scalars?" + qs(params));
    if (seq !== c.seq) return;   // a newer request for this chart is on its way
    if (resetZoom) c.zoomed = false;
    draw(c, data, resetZoom || !c.u, range || (c.zoomed ? c.range : null));
  } catch (e) {
    c.info.textContent = "error: " + e.message;
  }
}

function draw(c, data, rebuild, range) {
  c.last = data;
  const log = logScale(c.tag);
  const w = SC.smoothing;
  const series = data.series.filter((s) => !s.error);
  const errors = data.series.filter((s) => s.error);
  const tables = series.map((s) => [s.x, log ? s.y.map((v) => (v > 0 ? v : null)) : s.y]);
  const joined = tables.length ? uPlot.join(tables) : [[]];
  const uData = [joined[0]];
  const uSeries = [{ label: SC.xmode }];
  series.forEach((s, i) => {
    const ys = joined[i + 1];
    const color = runColor(s.run);
    if (w > 0) {
      uData.push(ys);
      uSeries.push({ label: runLabel(s.run) + " (raw)", stroke: color + "40", width: 1, spanGaps: true, run: s.run, raw: true });
      uData.push(ema(ys, w));
      uSeries.push({ label: runLabel(s.run), stroke: color, width: 1.5, spanGaps: true, run: s.run });
    } else {
      uData.push(ys);
      uSeries.push({ label: runLabel(s.run), stroke: color, width: 1.25, spanGaps: true, run: s.run });
    }
  });
  const shown = series.reduce((a, s) => a + s.shown, 0);
  const total = series.reduce((a, s) => a + s.total, 0);
  c.info.textContent = `${shown.toLocaleString()} of ${total.toLocaleString()} points` +
    (shown < total ? " (per-pixel min/max, extremes kept; CSV is full resolution)" : "") +
    (errors.length ? ` — ${errors.length} run(s) unreadable: ${errors.map((e) => e.error).join("; ")}` : "");
  c.card.dataset.shown = shown; c.card.dataset.total = total; c.card.dataset.traces = series.length;
  renderLegend(c, series);
  if (c.u && !rebuild && c.uSeriesCount === uSeries.length) {
    c.u.setData(uData, !c.zoomed);
  } else {
    if (c.u) c.u.destroy();
    c.u = new uPlot(chartOpts(c, uSeries, log), uData, c.plot);
    c.uSeriesCount = uSeries.length;
  }
  applyHighlight(c);
  if (c.zoomed && range) { c.range = range; c.u.setScale("x", { min: range[0], max: range[1] }); }
  else if (!c.zoomed) c.range = null;
  markDrawn(c);
}

function markDrawn(c) {
  if (c.drawnOnce) return;
  c.drawnOnce = true;
  LT.drawn++;
  const ds = document.body.dataset;
  ds.chartsDrawn = LT.drawn;
  // timings since navigation, read by the benchmark
  if (LT.drawn === 1) ds.firstChartAt = performance.now().toFixed(1);
  if (String(LT.drawn) === ds.chartsExpected) ds.allChartsAt = performance.now().toFixed(1);
}

function chartOpts(c, uSeries, log) {
  const width = Math.max(200, c.plot.clientWidth || 480);
  return {
    width, height: 240,
    legend: { show: false },
    scales: { x: { time: SC.xmode === "wall" }, y: log ? { distr: 3 } : {} },
    series: uSeries,
    axes: [{ stroke: "#555", grid: { stroke: "#eee" } }, { stroke: "#555", grid: { stroke: "#eee" }, size: 60 }],
    cursor: {
      drag: { x: true, y: false, setScale: false },
      dataIdx: (u, si, hoveredIdx) => nearestNonNull(u.data[si], hoveredIdx),
      bind: {
        dblclick: () => () => { c.zoomed = false; fetchChart(c, true); return null; },
      },
    },
    hooks: {
      setSelect: [(u) => {
        // Drag to zoom: fetch the window at full pixel resolution, then show it.
        if (u.select.width < 3) return;
        const min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        c.zoomed = true;
        fetchChart(c, false, [min, max]);
      }],
      setCursor: [(u) => showTip(c, u)],
    },
  };
}

function nearestNonNull(ys, i) {
  if (ys[i] !== null && ys[i] !== undefined) return i;
  for (let d = 1; d < ys.length; d++) {
    if (i - d >= 0 && ys[i - d] !== null && ys[i - d] !== undefined) return i - d;
    if (i + d < ys.length && ys[i + d] !== null && ys[i + d] !== undefined) return i + d;
  }
  return i;
}

function fmtX(v) {
  if (SC.xmode === "wall") return fmtTime(v);
  if (SC.xmode === "relative") return fmtDuration(v);
  return String(v);
}

function showTip(c, u) {
  const idx = u.cursor.idx;
  const tip = c.tip;
  if (idx === null || idx === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
  clear(tip);
  const rows = [];
  for (let si = 1; si < u.series.length; si++) {
    const s = u.series[si];
    if (!s.show || s.raw) continue;
    const di = u.cursor.idxs ? u.cursor.idxs[si] : idx;
    if (di === null || di === undefined) continue;
    const y = u.data[si][di];
    if (y === null || y === undefined) continue;
    rows.push([s, u.data[0][di], y, SC.smoothing > 0 ? u.data[si - 1][di] : null]);
  }
  if (!rows.length) { tip.hidden = true; return; }
  tip.appendChild(h("div", { class: "muted" }, SC.xmode + " " + fmtX(u.data[0][idx])));
  for (const [s, x, y, raw] of rows) {
    tip.appendChild(h("div", null, h("span", { class: "swatch", style: `background:${runColor(s.run)}` }),
      s.label + ": ", h("b", null, fmtValue(y)), raw !== null && raw !== undefined ? ` (raw ${fmtValue(raw)})` : "",
      x !== u.data[0][idx] ? h("span", { class: "muted" }, " @ " + fmtX(x)) : ""));
  }
  tip.hidden = false;
  const left = u.cursor.left + 70, plotW = c.plot.clientWidth;
  tip.style.left = (left > plotW - 220 ? Math.max(0, left - 260) : left) + "px";
  tip.style.top = "40px";
}

// One entry per run: its colour, its name, and its last logged value with the step
// ("lr0.1  last 0.0123 at step 4999"). Hovering an entry highlights the run in every chart.
function renderLegend(c, series) {
  const lg = clear(c.legend);
  for (const s of series) {
    const last = s.last_step === null || s.last_step === undefined ? " no points"
      : ` last ${fmtValue(s.last_value)} at step ${s.last_step}`;
    const item = h("span", { class: "lgitem", dataset: { run: s.run },
      title: `${(LT.byHandle.get(s.run) || {}).path || ""}: ${c.tag}${last} (click to hide, hover to highlight)` },
    h("span", { class: "swatch", style: `background:${runColor(s.run)}` }), runLabel(s.run),
    h("span", { class: "muted" }, last));
    item.addEventListener("mouseenter", () => highlightRun(s.run));
    item.addEventListener("mouseleave", () => highlightRun(null));
    item.addEventListener("click", () => {
      if (!c.u) return;
      item.classList.toggle("off");
      const on = !item.classList.contains("off");
      c.u.series.forEach((us, i) => { if (i > 0 && us.run === s.run) c.u.setSeries(i, { show: on }); });
    });
    lg.appendChild(item);
  }
}

// The highlighted run's lines at full strength, the others faded (uPlot draws each series
// with its own alpha).
function applyHighlight(c) {
  const hl = LT.highlighted;
  for (const it of c.legend.children) it.classList.toggle("hl", hl !== null && +it.dataset.run === hl);
  c.card.dataset.highlight = hl === null ? "" : String(hl);
  if (!c.u) return;
  let changed = false;
  c.u.series.forEach((us, i) => {
    if (i === 0) return;
    const alpha = hl === null || us.run === hl ? 1 : 0.15;
    if (us.alpha !== alpha) { us.alpha = alpha; changed = true; }
  });
  if (changed) c.u.redraw(false);
}

function exportPng(c) {
  if (!c.u) return;
  const src = c.u.ctx.canvas;
  const pad = 30, legendH = 18 * Math.ceil(c.handles.length / 3);
  const out = document.createElement("canvas");
  out.width = src.width; out.height = src.height + pad + legendH + 10;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = "#222"; ctx.font = "bold 14px sans-serif"; ctx.fillText(c.tag, 10, 20);
  ctx.drawImage(src, 0, pad);
  ctx.font = "12px sans-serif";
  c.last.series.forEach((s, i) => {
    const x = 10 + (i % 3) * (out.width / 3), y = src.height + pad + 14 + Math.floor(i / 3) * 18;
    ctx.fillStyle = runColor(s.run); ctx.fillRect(x, y - 9, 10, 10);
    ctx.fillStyle = "#222"; ctx.fillText(runLabel(s.run), x + 14, y);
  });
  out.toBlob((b) => download(b, c.tag.replace(/\//g, "_") + ".png"));
}

window.addEventListener("resize", debounce(() => {
  if (LT.tab !== "scalars") return;
  for (const c of SC.charts.values()) if (c.u) c.u.setSize({ width: Math.max(200, c.plot.clientWidth), height: 240 });
}, 200));
