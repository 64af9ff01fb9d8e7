// Compare tab: configs and summaries of the selected runs side by side (differences
// highlighted) and a parallel-coordinates / scatter view of config values against a metric.
"use strict";

const CMP = { onlyDiff: false, metric: "", view: "parcoords", xkey: "" };

function isDiff(values) {
  const s = new Set(values.map((v) => JSON.stringify(v === undefined ? null : v)));
  return s.size > 1;
}

function refreshCompare() {
  const root = clear(document.getElementById("tab-compare"));
  const runs = selectedHandles().map((hd) => LT.byHandle.get(hd));
  if (runs.length < 1) { root.appendChild(emptyNote("Select runs in the Runs tab to compare them.")); return; }
  const configKeys = [...new Set(runs.flatMap((r) => Object.keys(r.config)))].sort();
  const summaryKeys = [...new Set(runs.flatMap((r) => Object.keys(r.summary)))].sort();
  const only = h("input", { type: "checkbox" });
  only.checked = CMP.onlyDiff;
  only.addEventListener("change", () => { CMP.onlyDiff = only.checked; refreshCompare(); });
  root.appendChild(h("div", { class: "toolbar" }, h("label", null, only, "only differing keys"),
    h("span", { class: "muted" }, `${runs.length} runs, ${configKeys.filter((k) => isDiff(runs.map((r) => r.config[k]))).length} differing config keys`)));

  const thead = h("thead", null, h("tr", null, h("th", null, "key"), ...runs.map((r) => h("th", null, runHeader(r.handle)))));
  const tbody = h("tbody");
  const addRows = (title, keys, field) => {
    tbody.appendChild(h("tr", { class: "sep" }, h("td", { colspan: runs.length + 1 }, title)));
    for (const k of keys) {
      const vals = runs.map((r) => r[field][k]);
      const diff = isDiff(vals);
      if (CMP.onlyDiff && !diff && field === "config") continue;
      tbody.appendChild(h("tr", { class: diff ? "diff" : "" }, h("td", { class: "key" }, k), ...vals.map((v) => h("td", { class: "num", title: fmtValue(v) }, fmtValue(v)))));
    }
  };
  addRows("config", configKeys, "config");
  addRows("summary", summaryKeys, "summary");
  root.appendChild(h("div", { class: "cmpwrap" }, h("table", { class: "simple compare", id: "compare-table" }, thead, tbody)));

  // Config values against a metric.
  const numericMetric = summaryKeys.filter((k) => runs.some((r) => typeof r.summary[k] === "number"));
  if (!numericMetric.length || runs.length < 2) return;
  if (!numericMetric.includes(CMP.metric)) CMP.metric = numericMetric[0];
  // a key that only names the run (the runner's `name`) is not a coordinate to compare
  const varying = configKeys.filter((k) => isDiff(runs.map((r) => r.config[k])) && !namesRuns(k, runs));
  if (!varying.includes(CMP.xkey)) CMP.xkey = varying[0] || "";
  const metricSel = h("select", null, ...numericMetric.map((k) => h("option", { value: k }, k)));
  metricSel.value = CMP.metric;
  const viewSel = h("select", null, h("option", { value: "parcoords" }, "parallel coordinates"), h("option", { value: "scatter" }, "scatter"));
  viewSel.value = CMP.view;
  const xSel = h("select", null, ...varying.map((k) => h("option", { value: k }, k)));
  xSel.value = CMP.xkey;
  const plot = h("div", { class: "cmpplot", id: "compare-plot" });
  metricSel.addEventListener("change", () => { CMP.metric = metricSel.value; drawCompare(plot, runs, varying); });
  viewSel.addEventListener("change", () => { CMP.view = viewSel.value; drawCompare(plot, runs, varying); });
  xSel.addEventListener("change", () => { CMP.xkey = xSel.value; drawCompare(plot, runs, varying); });
  root.appendChild(h("div", { class: "toolbar" }, h("label", null, "metric ", metricSel), h("label", null, "view ", viewSel),
    h("label", null, "x (scatter) ", xSel), h("span", { class: "muted" }, "lines coloured by the metric"), h("span", { class: "muted", id: "compare-note" })));
  root.appendChild(plot);
  drawCompare(plot, runs, varying);
}

// A config value, key, metric or run name is data, shown as the text it is. Plotly renders a
// subset of HTML (<a href>, <b>, <br>) in most strings it draws (axis titles, category ticks,
// point and hover text, parallel-coordinates labels) and decodes entities there: those go
// through esc(). Parallel-coordinates tick texts are the exception: drawn as plain text, so
// they are passed as they are (escaping would show "&lt;"). test_trust.py checks both.
function namesRuns(key, runs) {
  return key === "name" || runs.every((r) => r.config[key] === undefined || r.config[key] === r.name);
}

const MISSING = "(missing)";
const MAX_AXES = 12;

// One parallel-coordinates axis. A run without the key is drawn at a "(missing)" tick below
// the axis's values, never mixed with them (plotly would put it at the top of the axis).
function dimension(key, vals) {
  const absent = (v) => v === undefined || v === null;
  const present = vals.filter((v) => !absent(v));
  const anyMissing = present.length < vals.length;
  if (present.length && present.every((v) => typeof v === "number")) {
    if (!anyMissing) return { label: esc(key), values: vals };
    const lo = Math.min(...present), hi = Math.max(...present);
    const span = hi - lo || Math.abs(hi) || 1;
    const miss = lo - span * 0.25;
    const ticks = [...new Set([0, 1, 2, 3, 4].map((i) => lo + ((hi - lo) * i) / 4))];
    return { label: esc(key), values: vals.map((v) => (absent(v) ? miss : v)), range: [miss, hi === lo ? hi + span * 0.25 : hi],
      tickvals: [miss, ...ticks], ticktext: [MISSING, ...ticks.map((t) => fmtValue(+t.toPrecision(6)))] };
  }
  const cats = [...(anyMissing ? [MISSING] : []), ...new Set(present.map((v) => fmtValue(v)))];
  return { label: esc(key), values: vals.map((v) => cats.indexOf(absent(v) ? MISSING : fmtValue(v))), tickvals: cats.map((_, i) => i), ticktext: cats };
}

function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

async function drawCompare(plot, allRuns, varying) {
  const Plotly = await loadPlotly();
  // A run without the metric has no line colour and no place on the metric axis: left out, said.
  const runs = allRuns.filter((r) => typeof r.summary[CMP.metric] === "number");
  const left = allRuns.length - runs.length;
  const note = document.getElementById("compare-note");
  if (note) note.textContent = left ? `${left} run${left > 1 ? "s" : ""} without ${CMP.metric} not drawn` : "";
  const metric = runs.map((r) => r.summary[CMP.metric]);
  // Most shared keys first, at most MAX_AXES of them: a key set in one run of many is noise.
  const has = (k) => runs.filter((r) => r.config[k] !== undefined).length;
  const axes = varying.map((k) => [k, has(k)]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, MAX_AXES).map(([k]) => k);
  const dropped = varying.length - axes.length;
  if (note && dropped) note.textContent += (note.textContent ? "; " : "") + `${dropped} config key${dropped > 1 ? "s" : ""} set in fewer runs not drawn`;
  const dims = axes.map((k) => dimension(k, runs.map((r) => r.config[k])));
  dims.push({ label: esc(CMP.metric), values: metric });
  let data, layout;
  if (CMP.view === "parcoords" || !CMP.xkey) {
    // Coloured by the metric, whose axis is the last one: a colour bar beside it would repeat
    // its labels.
    data = [{ type: "parcoords", dimensions: dims, line: { color: metric, colorscale: "Viridis", showscale: false } }];
    layout = { height: 380, margin: { l: 80, r: 80, t: 40, b: 20 } };
  } else {
    const xs = runs.map((r) => r.config[CMP.xkey]);
    data = [{ type: "scatter", mode: "markers+text", x: xs.map((v) => (typeof v === "number" ? v : esc(fmtValue(v)))), y: metric,
      text: runs.map((r) => esc(runLabel(r.handle))), textposition: "top center", marker: { size: 10, color: runs.map((r) => runColor(r.handle)) } }];
    layout = { height: 380, xaxis: { title: { text: esc(CMP.xkey) } }, yaxis: { title: { text: esc(CMP.metric) } }, margin: { t: 30 } };
  }
  await Plotly.react(plot, data, layout, { responsive: true, displaylogo: false });
}
