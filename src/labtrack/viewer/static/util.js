// Shared helpers and state. Data is only ever put in the page as text (textContent / text
// nodes / attribute values): never as markup, whatever a run, tag or config value contains.
"use strict";

const LT = {
  runs: [],            // rows from /api/runs
  byHandle: new Map(), // handle -> row
  selected: new Set(), // selected handles
  version: "",
  refreshMs: 1000,
  tab: "runs",
  drawn: 0,            // charts drawn (for tests and benchmarks)
  onRunsChanged: [],   // callbacks(tab-specific refresh)
  root: "",            // the viewed directory (columns are remembered per directory)
  clockSkew: 0,        // server clock minus browser clock, in seconds
  highlighted: null,   // the run hovered in a legend: its lines stand out in every chart
  onHighlight: [],     // callbacks(handle or null)
  hash: "",            // the hash this page last wrote (a different one was edited by hand)
};
window.__lt = LT;

// h("div", {class: "x", onclick: f}, "text", childNode, ...)
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (k === "style") el.style.cssText = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString();
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#756bb1", "#843c39",
  "#3182bd", "#de9ed6", "#636363", "#8ca252", "#e7ba52"];
function runColor(handle) { return PALETTE[(handle - 1) % PALETTE.length]; }

function runLabel(handle) {
  const r = LT.byHandle.get(handle);
  if (!r) return "run " + handle;
  return r.name || r.path;
}

// A run's duration in seconds; a running run's counts up from its start on the server's clock
// (the duration it recorded is only as fresh as its last metadata write).
function runDuration(r) {
  if (r && r.status === "running" && typeof r.start_time === "number") {
    return Math.max(0, Date.now() / 1000 + LT.clockSkew - r.start_time);
  }
  return r ? r.duration : null;
}

// Hovering a run highlights its lines in every chart (null: none highlighted).
function highlightRun(handle) {
  if (LT.highlighted === handle) return;
  LT.highlighted = handle;
  for (const fn of LT.onHighlight) fn(handle);
}

// Durations of running runs count up once a second wherever they are shown.
setInterval(() => {
  for (const el of document.querySelectorAll("[data-live-duration]")) {
    el.textContent = fmtDuration(runDuration(LT.byHandle.get(+el.dataset.liveDuration)));
  }
}, 1000);

function fmtTime(t) {
  if (t === null || t === undefined) return "";
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " m " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
}

function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e6)) ? v.toExponential(4) : String(+v.toPrecision(6));
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function selectedHandles() { return [...LT.selected].filter((x) => LT.byHandle.has(x)).sort((a, b) => a - b); }

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

function download(blob, filename) {
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function emptyNote(text) { return h("div", { class: "empty" }, text); }

let plotlyPromise = null;
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const s = h("script", { src: "/vendor/plotly.min.js" });
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => reject(new Error("could not load plotly.js"));
      document.head.appendChild(s);
    });
  }
  return plotlyPromise;
}

// A per-run slider over logged entries: (entries, render(entry)) -> element.
function entrySlider(entries, render) {
  const out = h("div", { class: "slot" });
  if (!entries.length) { out.appendChild(emptyNote("nothing logged")); return out; }
  const label = h("span", { class: "muted" });
  const slider = h("input", { type: "range", min: 0, max: entries.length - 1, value: entries.length - 1, class: "itslider" });
  const body = h("div", { class: "slotbody" });
  const show = () => {
    const e = entries[+slider.value];
    label.textContent = `step ${e.step} (${+slider.value + 1} of ${entries.length})`;
    render(e, body);
  };
  slider.addEventListener("input", debounce(show, 60));
  out.append(h("div", { class: "sliderrow" }, slider, label), body);
  show();
  return out;
}

// Collapsible group: title, content element.
function section(title, content, open = true) {
  const d = h("details", { class: "group", open }, h("summary", null, title), content);
  return d;
}

// Group tags by their prefix before the first "/" ("train/loss" -> "train").
function groupTags(tags) {
  const groups = new Map();
  for (const t of tags) {
    const i = t.indexOf("/");
    const g = i > 0 ? t.slice(0, i) : "(no prefix)";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(t);
  }
  return groups;
}

function runHeader(handle) {
  return h("div", { class: "runhead" }, h("span", { class: "swatch", style: `background:${runColor(handle)}` }), runLabel(handle));
}
