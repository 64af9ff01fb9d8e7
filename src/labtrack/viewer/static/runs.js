// Runs tab: a virtualized table (only the visible rows exist in the DOM), search, filters,
// column chooser, selection, and a run's detail panel.
//
// Columns: id, experiment, name, status, start, duration, tags, then config/summary columns.
// By default the config keys whose values vary between the listed runs come first (a swept
// `width`), then keys most runs share; a key set in one run only comes last. Columns chosen in
// the chooser are remembered per viewed directory (local storage) and put in the URL.
"use strict";

const RUNS = {
  ROW: 28,
  filtered: [],
  sortKey: "start_time",
  sortDir: -1,
  columns: null,        // extra columns: "config.x" / "summary.y"
  chosen: false,        // the columns were chosen (URL, local storage, chooser), not defaults
  widths: null,         // [experiment, start] in px, measured so that neither is cut off
  built: false,
  els: {},
};

const STATUSES = ["running", "completed", "failed", "crashed", "killed", "unreadable"];

// Keys of config or summary over the listed runs: [{key, count, varies}], those that vary
// first, then by how many runs have them, then by name.
function rankedKeys(field) {
  const seen = new Map();
  const n = Math.min(LT.runs.length, 2000);
  for (let i = 0; i < n; i++) {
    for (const [k, v] of Object.entries(LT.runs[i][field] || {})) {
      let e = seen.get(k);
      if (!e) { e = { key: k, count: 0, values: new Set(), names: true }; seen.set(k, e); }
      e.count++;
      if (v !== LT.runs[i].name) e.names = false;
      if (e.values.size < 2) e.values.add(JSON.stringify(v));
    }
  }
  const keys = [...seen.values()].map((e) => ({ key: e.key, count: e.count, varies: e.values.size > 1, names: e.names }));
  return keys.sort((a, b) => (b.varies - a.varies) || (b.count - a.count) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function allKeys(field) { return rankedKeys(field).map((e) => e.key); }

function columnsKey() { return "lt.columns:" + LT.root; }

function defaultColumns() {
  const stored = localStorage.getItem(columnsKey());
  if (stored) {
    try { const cols = JSON.parse(stored); if (Array.isArray(cols)) { RUNS.chosen = true; return cols.map(String); } } catch (e) { /* ignore */ }
  }
  // a key that only repeats each run's name (the runner's `name`) is already the name column
  const config = rankedKeys("config").filter((e) => !e.names);
  const varying = config.filter((e) => e.varies).slice(0, 8);
  const rest = config.filter((e) => !e.varies && e.count > 1).slice(0, Math.max(0, 4 - varying.length));
  return [...[...varying, ...rest].map((e) => "config." + e.key), ...allKeys("summary").slice(0, 3).map((k) => "summary." + k)];
}

// Columns from the URL (or the chooser): remembered for this directory.
function setColumns(cols) {
  RUNS.columns = cols.filter((c) => c.startsWith("config.") || c.startsWith("summary."));
  RUNS.chosen = true;
  localStorage.setItem(columnsKey(), JSON.stringify(RUNS.columns));
}

function tagsText(row) {
  return Object.entries(row.tags || {}).map(([k, v]) => (v === "" || v === null || v === undefined ? k : `${k}=${v}`)).join(", ");
}

function cellValue(row, key) {
  if (key.startsWith("config.")) return row.config[key.slice(7)];
  if (key.startsWith("summary.")) return row.summary[key.slice(8)];
  if (key === "duration") return runDuration(row);
  if (key === "tags") return tagsText(row) || undefined;
  return row[key];
}

let MEASURE = null;
function textWidth(text) {
  if (!MEASURE) { MEASURE = document.createElement("canvas").getContext("2d"); MEASURE.font = getComputedStyle(document.body).font; }
  return MEASURE.measureText(text).width;
}

// Experiment and start time are never cut off while they fit: their widths are measured.
function measureWidths() {
  if (RUNS.widths && RUNS.widths.version === LT.version) return;
  const pad = 16;
  let exp = textWidth("experiment ▼");
  const n = Math.min(LT.runs.length, 2000);
  let start = textWidth("start ▼");
  for (let i = 0; i < n; i++) {
    exp = Math.max(exp, textWidth(LT.runs[i].experiment || ""));
    start = Math.max(start, textWidth(fmtTime(LT.runs[i].start_time)));
  }
  RUNS.widths = { version: LT.version, experiment: Math.ceil(Math.min(exp, 360) + pad), start: Math.ceil(start + pad) };
}

// "lr=0.01, depth>2, optimizer~adam": every clause must hold for config (or summary) values.
function parseFilter(text) {
  const clauses = [];
  for (const part of text.split(",")) {
    const m = part.trim().match(/^([^=<>~!]+?)\s*(>=|<=|!=|=|<|>|~)\s*(.*)$/);
    if (m) clauses.push({ key: m[1].trim(), op: m[2], value: m[3].trim() });
  }
  return clauses;
}

function matchClause(row, c) {
  let v = row.config[c.key];
  if (v === undefined) v = row.summary[c.key];
  if (v === undefined && c.key.startsWith("config.")) v = row.config[c.key.slice(7)];
  if (v === undefined && c.key.startsWith("summary.")) v = row.summary[c.key.slice(8)];
  if (v === undefined) return false;
  const num = Number(c.value);
  const isNum = typeof v === "number" && c.value !== "" && !Number.isNaN(num);
  switch (c.op) {
    case "=": return isNum ? v === num : String(v) === c.value;
    case "!=": return isNum ? v !== num : String(v) !== c.value;
    case "<": return isNum && v < num;
    case ">": return isNum && v > num;
    case "<=": return isNum && v <= num;
    case ">=": return isNum && v >= num;
    case "~": return String(v).toLowerCase().includes(c.value.toLowerCase());
  }
  return false;
}

function applyFilters() {
  const q = RUNS.els.search.value.trim().toLowerCase();
  const st = RUNS.els.status.value;
  const clauses = parseFilter(RUNS.els.filter.value);
  let rows = LT.runs.filter((r) => {
    if (st && r.status !== st) return false;
    if (q && !(r.name.toLowerCase().includes(q) || r.experiment.toLowerCase().includes(q) || r.path.toLowerCase().includes(q))) return false;
    for (const c of clauses) if (!matchClause(r, c)) return false;
    return true;
  });
  const k = RUNS.sortKey, d = RUNS.sortDir;
  rows = rows.slice().sort((a, b) => {
    const x = cellValue(a, k), y = cellValue(b, k);
    if (x === y) return a.handle - b.handle;
    if (x === undefined || x === null) return 1;
    if (y === undefined || y === null) return -1;
    return (x < y ? -1 : 1) * d;
  });
  RUNS.filtered = rows;
  measureWidths();
  RUNS.els.count.textContent = `${rows.length} of ${LT.runs.length} runs`;
  RUNS.els.spacer.style.height = rows.length * RUNS.ROW + "px";
  renderHeader();
  renderRows(true);
  if (LT.runs.length && !document.body.dataset.tableAt) document.body.dataset.tableAt = performance.now().toFixed(1);
}

function gridTemplate() {
  const w = RUNS.widths;
  return ["32px", "96px", w.experiment + "px", "minmax(160px,2fr)", "100px", w.start + "px", "90px", "minmax(80px,1fr)", ...RUNS.columns.map(() => "minmax(80px,1fr)")].join(" ");
}

function renderHeader() {
  const cols = [["", null], ["id", "id"], ["experiment", "experiment"], ["name", "name"], ["status", "status"], ["start", "start_time"], ["duration", "duration"], ["tags", "tags"],
    ...RUNS.columns.map((c) => [c.replace(/^config\./, "").replace(/^summary\./, "Σ "), c])];
  const head = clear(RUNS.els.head);
  head.style.gridTemplateColumns = gridTemplate();
  for (const [label, key] of cols) {
    if (key === null) {
      const all = h("input", { type: "checkbox", title: "select all shown runs" });
      all.checked = RUNS.filtered.length > 0 && RUNS.filtered.every((r) => LT.selected.has(r.handle));
      all.addEventListener("change", () => {
        for (const r of RUNS.filtered) { if (all.checked) LT.selected.add(r.handle); else LT.selected.delete(r.handle); }
        selectionChanged();
      });
      head.appendChild(h("div", { class: "cell" }, all));
      continue;
    }
    const arrow = RUNS.sortKey === key ? (RUNS.sortDir > 0 ? " ▲" : " ▼") : "";
    head.appendChild(h("div", {
      class: "cell sortable", title: key,
      onclick: () => { if (RUNS.sortKey === key) RUNS.sortDir *= -1; else { RUNS.sortKey = key; RUNS.sortDir = 1; } applyFilters(); },
    }, label + arrow));
  }
}

function renderRows(force) {
  const sc = RUNS.els.scroll;
  const first = Math.max(0, Math.floor(sc.scrollTop / RUNS.ROW) - 5);
  const last = Math.min(RUNS.filtered.length, Math.ceil((sc.scrollTop + sc.clientHeight) / RUNS.ROW) + 5);
  if (!force && RUNS.first === first && RUNS.last === last) return;
  RUNS.first = first; RUNS.last = last;
  const body = clear(RUNS.els.rows);
  body.style.transform = `translateY(${first * RUNS.ROW}px)`;
  const tmpl = gridTemplate();
  for (let i = first; i < last; i++) body.appendChild(rowEl(RUNS.filtered[i], tmpl));
}

function rowEl(r, tmpl) {
  const sel = LT.selected.has(r.handle);
  const box = h("input", { type: "checkbox" });
  box.checked = sel;
  box.addEventListener("change", () => { if (box.checked) LT.selected.add(r.handle); else LT.selected.delete(r.handle); selectionChanged(); });
  const status = statusCell(r);
  const text = h("span", { class: "nm" }, r.name || r.path);
  if (r.unreadable) text.appendChild(h("span", { class: "err" }, " — " + r.unreadable));
  const info = h("button", { class: "info", title: "details: config, summary, host, git commit, artifacts",
    onclick: (ev) => { ev.stopPropagation(); showRunDetail(r.handle); } }, "details");
  const name = h("div", { class: "cell name", title: r.path },
    h("span", { class: "swatch", style: `background:${runColor(r.handle)}` }), text, info);
  const tags = tagsText(r);
  const dur = h("div", { class: "cell num dur" }, fmtDuration(runDuration(r)));
  if (r.status === "running") dur.dataset.liveDuration = r.handle;
  const row = h("div", { class: "row" + (sel ? " sel" : ""), style: `grid-template-columns:${tmpl}`, dataset: { handle: r.handle } },
    h("div", { class: "cell" }, box),
    h("div", { class: "cell mono small", title: r.id }, r.id),
    h("div", { class: "cell", title: r.experiment }, r.experiment),
    name,
    status,
    h("div", { class: "cell" }, fmtTime(r.start_time)),
    dur,
    h("div", { class: "cell", title: tags }, tags),
    ...RUNS.columns.map((c) => { const v = fmtValue(cellValue(r, c)); return h("div", { class: "cell num", title: v }, v); }));
  row.addEventListener("mouseenter", () => highlightRun(r.handle));
  row.addEventListener("mouseleave", () => highlightRun(null));
  row.addEventListener("click", (ev) => {
    if (ev.target === box) return;
    if (LT.selected.has(r.handle)) LT.selected.delete(r.handle); else LT.selected.add(r.handle);
    selectionChanged();
  });
  return row;
}

// The status badge; its tooltip says why a run failed ("ValueError: bad lr") or cannot be read.
// A failed run's badge, and its "why" link, open the run's detail with the traceback.
function statusCell(r) {
  const why = r.error || r.unreadable;
  const badge = h("span", { class: "status st-" + r.status, title: why || r.status }, r.status);
  const cell = h("div", { class: "cell" }, badge);
  if (r.error) {
    const open = (ev) => { ev.stopPropagation(); ev.preventDefault(); showRunDetail(r.handle); };
    badge.classList.add("clickable");
    badge.addEventListener("click", open);
    cell.appendChild(h("a", { href: "#", class: "why", title: r.error, onclick: open }, "why"));
  }
  return cell;
}

// A panel over the table: everything about one run. Its status with why it failed (and the
// whole traceback, as text), where it ran (host, pid, git commit), its config, params, summary
// and tags, its artifacts with the metadata they were logged with, and any damage its reader
// found.
async function showRunDetail(handle) {
  let panel = document.getElementById("run-detail");
  if (!panel) {
    panel = h("aside", { id: "run-detail", class: "detail", role: "dialog" });
    document.body.appendChild(panel);
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") panel.hidden = true; });
  }
  const close = h("button", { class: "close", title: "close (Esc)", onclick: () => { panel.hidden = true; } }, "×");
  clear(panel).append(h("div", { class: "detailhead" }, runHeader(handle), close), h("div", { class: "muted" }, "loading…"));
  panel.dataset.handle = handle;
  panel.hidden = false;
  let d;
  try { d = await getJSON("/api/run?" + qs({ run: handle })); } catch (e) {
    panel.lastChild.textContent = "could not load the run: " + e.message;
    return;
  }
  if (panel.dataset.handle !== String(handle)) return;   // another run was opened meanwhile
  const body = [h("div", null, h("span", { class: "status st-" + d.status }, d.status), " ", h("span", { class: "muted" }, d.path))];
  if (d.unreadable) body.push(h("p", { class: "err" }, d.unreadable));
  if (d.failure) {
    body.push(h("p", { class: "failure" }, d.failure.message ? `${d.failure.type}: ${d.failure.message}` : d.failure.type));
    body.push(d.failure.traceback ? h("pre", { class: "traceback" }, d.failure.traceback) : h("p", { class: "muted" }, "no traceback was recorded"));
  }
  if (d.problems.length) body.push(h("h4", null, "problems found reading it"), h("ul", null, ...d.problems.map((p) => h("li", null, p))));
  const dur = h("span", null, fmtDuration(runDuration(d)));
  if (d.status === "running") dur.dataset.liveDuration = d.handle;
  const git = d.git ? [d.git.commit || "", d.git.branch ? ` (${d.git.branch})` : "", d.git.dirty ? ", uncommitted changes" : ""].join("") : "";
  body.push(kvTable("run", [["id", d.id], ["experiment", d.experiment], ["name", d.name], ["status", d.error ? `${d.status}: ${d.error}` : d.status],
    ["start", fmtTime(d.start_time)], ["end", fmtTime(d.end_time)], ["duration", dur], ["host", d.host], ["pid", d.pid], ["git commit", git],
    ["tags", tagsText(d)]]));
  for (const [title, obj] of [["config", d.config], ["params", d.params], ["summary", d.summary]]) {
    const entries = Object.entries(obj || {});
    body.push(entries.length ? kvTable(title, entries.map(([k, v]) => [k, fmtValue(v)])) : h("div", { class: "kvsec", dataset: { section: title } }, h("h4", null, title), h("span", { class: "muted" }, "none")));
  }
  body.push(artifactTable(d.artifacts || []));
  panel.lastChild.remove();
  panel.append(...body);
}

function kvTable(title, rows) {
  const tbody = h("tbody");
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    tbody.appendChild(h("tr", null, h("th", null, k), h("td", { title: v instanceof Node ? null : String(v) }, v instanceof Node ? v : String(v))));
  }
  return h("div", { class: "kvsec", dataset: { section: title } }, h("h4", null, title), h("table", { class: "simple kv" }, tbody));
}

function artifactTable(artifacts) {
  const sec = h("div", { class: "kvsec", dataset: { section: "artifacts" } }, h("h4", null, "artifacts"));
  if (!artifacts.length) { sec.appendChild(h("span", { class: "muted" }, "none")); return sec; }
  const tbody = h("tbody");
  for (const a of artifacts) {
    const meta = Object.entries(a.metadata || {}).map(([k, v]) => `${k}=${fmtValue(v)}`).join(", ");
    tbody.appendChild(h("tr", null,
      h("td", null, a.url ? h("a", { href: a.url + "?download=1", download: a.name }, a.name) : a.name),
      h("td", null, a.kind), h("td", { class: "num" }, fmtBytes(a.size)),
      h("td", null, a.step === null || a.step === undefined ? "" : String(a.step)),
      h("td", { class: "meta", title: meta }, meta)));
  }
  sec.appendChild(h("table", { class: "simple arts" },
    h("thead", null, h("tr", null, ...["name", "kind", "size", "step", "metadata"].map((t) => h("th", null, t)))), tbody));
  return sec;
}

function columnChooser() {
  const panel = RUNS.els.colpanel;
  if (!panel.hidden) { panel.hidden = true; return; }
  clear(panel);
  const chosen = new Set(RUNS.columns);
  const add = (key) => {
    const b = h("input", { type: "checkbox" });
    b.checked = chosen.has(key);
    b.addEventListener("change", () => {
      setColumns(b.checked ? [...RUNS.columns, key] : RUNS.columns.filter((c) => c !== key));
      writeHash();
      applyFilters();
    });
    return h("label", { class: "colopt", title: key }, b, key);
  };
  const reset = h("button", { onclick: () => {
    localStorage.removeItem(columnsKey()); RUNS.chosen = false; RUNS.columns = defaultColumns();
    writeHash(); panel.hidden = true; applyFilters();
  } }, "default columns");
  panel.append(reset, h("b", null, "config (keys that vary first)"), ...allKeys("config").map((k) => add("config." + k)),
    h("b", null, "summary"), ...allKeys("summary").map((k) => add("summary." + k)));
  panel.hidden = false;
}

function selectionChanged() {
  document.getElementById("selcount").textContent = LT.selected.size ? `${LT.selected.size} selected` : "";
  renderHeader();
  renderRows(true);
  writeHash();
}

function buildRuns() {
  const root = document.getElementById("tab-runs");
  const search = h("input", { type: "search", placeholder: "search name / experiment", id: "run-search" });
  const status = h("select", { id: "run-status" }, h("option", { value: "" }, "all statuses"), ...STATUSES.map((s) => h("option", { value: s }, s)));
  const filter = h("input", { type: "search", placeholder: "filter: lr=0.01, depth>2, opt~adam", id: "run-filter", class: "wide" });
  const count = h("span", { class: "muted", id: "run-count" });
  const colbtn = h("button", { onclick: columnChooser }, "columns");
  const none = h("button", { onclick: () => { LT.selected.clear(); selectionChanged(); } }, "clear selection");
  const colpanel = h("div", { class: "colpanel", hidden: true });
  const head = h("div", { class: "thead" });
  const spacer = h("div", { class: "spacer" });
  const rows = h("div", { class: "rows" });
  const scroll = h("div", { class: "tscroll", id: "run-scroll" }, spacer, rows);
  root.append(h("div", { class: "toolbar" }, search, status, filter, colbtn, none, count), colpanel, h("div", { class: "table" }, head, scroll));
  Object.assign(RUNS.els, { search, status, filter, count, head, spacer, rows, scroll, colpanel });
  for (const el of [search, filter]) el.addEventListener("input", debounce(applyFilters, 120));
  status.addEventListener("change", applyFilters);
  let ticking = false;
  scroll.addEventListener("scroll", () => {
    if (ticking) return;
    ticking = true;
    requestAnimationFrame(() => { ticking = false; renderRows(false); });
  });
  window.addEventListener("resize", () => renderRows(true));
  RUNS.built = true;
}

function refreshRunsTable() {
  if (!RUNS.built) buildRuns();
  // defaults once there are runs to choose from (a store may start empty)
  if (!RUNS.chosen && !(RUNS.columns && RUNS.columns.length) && LT.runs.length) RUNS.columns = defaultColumns();
  if (RUNS.columns === null) RUNS.columns = [];
  applyFilters();
}
