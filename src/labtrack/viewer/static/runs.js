// Runs tab: a virtualized table (only the visible rows exist in the DOM), search, filters,
// column chooser, selection.
"use strict";

const RUNS = {
  ROW: 28,
  filtered: [],
  sortKey: "start_time",
  sortDir: -1,
  columns: null,        // chosen extra columns: "config.x" / "summary.y"
  built: false,
  els: {},
};

const STATUSES = ["running", "completed", "failed", "crashed", "killed", "unreadable"];

function allKeys(prefix) {
  const keys = new Set();
  const field = prefix === "config" ? "config" : "summary";
  const n = Math.min(LT.runs.length, 2000);
  for (let i = 0; i < n; i++) for (const k of Object.keys(LT.runs[i][field] || {})) keys.add(k);
  return [...keys].sort();
}

function defaultColumns() {
  const stored = localStorage.getItem("lt.columns");
  if (stored) { try { return JSON.parse(stored); } catch (e) { /* ignore */ } }
  return [...allKeys("config").slice(0, 4).map((k) => "config." + k), ...allKeys("summary").slice(0, 3).map((k) => "summary." + k)];
}

function cellValue(row, key) {
  if (key.startsWith("config.")) return row.config[key.slice(7)];
  if (key.startsWith("summary.")) return row.summary[key.slice(8)];
  return row[key];
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
  RUNS.els.count.textContent = `${rows.length} of ${LT.runs.length} runs`;
  RUNS.els.spacer.style.height = rows.length * RUNS.ROW + "px";
  renderHeader();
  renderRows(true);
  if (LT.runs.length && !document.body.dataset.tableAt) document.body.dataset.tableAt = performance.now().toFixed(1);
}

function gridTemplate() {
  return ["32px", "minmax(90px,1fr)", "minmax(140px,2fr)", "100px", "150px", "90px", ...RUNS.columns.map(() => "minmax(80px,1fr)")].join(" ");
}

function renderHeader() {
  const cols = [["", null], ["experiment", "experiment"], ["name", "name"], ["status", "status"], ["start", "start_time"], ["duration", "duration"],
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
  const name = h("div", { class: "cell name", title: r.path }, r.name || r.path);
  if (r.unreadable) name.appendChild(h("span", { class: "err" }, " — " + r.unreadable));
  const row = h("div", { class: "row" + (sel ? " sel" : ""), style: `grid-template-columns:${tmpl}`, dataset: { handle: r.handle } },
    h("div", { class: "cell" }, box),
    h("div", { class: "cell", title: r.experiment }, r.experiment),
    name,
    status,
    h("div", { class: "cell" }, fmtTime(r.start_time)),
    h("div", { class: "cell num" }, fmtDuration(r.duration)),
    ...RUNS.columns.map((c) => { const v = fmtValue(cellValue(r, c)); return h("div", { class: "cell num", title: v }, v); }));
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

// A panel over the table: the run's name, status, why it failed with the whole traceback (as
// text), and any damage its reader found.
async function showRunDetail(handle) {
  let panel = document.getElementById("run-detail");
  if (!panel) {
    panel = h("aside", { id: "run-detail", class: "detail", role: "dialog" });
    document.body.appendChild(panel);
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") panel.hidden = true; });
  }
  const close = h("button", { class: "close", title: "close (Esc)", onclick: () => { panel.hidden = true; } }, "×");
  clear(panel).append(h("div", { class: "detailhead" }, runHeader(handle), close), h("div", { class: "muted" }, "loading…"));
  panel.hidden = false;
  let d;
  try { d = await getJSON("/api/run?" + qs({ run: handle })); } catch (e) {
    panel.lastChild.textContent = "could not load the run: " + e.message;
    return;
  }
  const body = [h("div", null, h("span", { class: "status st-" + d.status }, d.status), " ", h("span", { class: "muted" }, d.path))];
  if (d.unreadable) body.push(h("p", { class: "err" }, d.unreadable));
  if (d.failure) {
    body.push(h("p", { class: "failure" }, d.failure.message ? `${d.failure.type}: ${d.failure.message}` : d.failure.type));
    body.push(d.failure.traceback ? h("pre", { class: "traceback" }, d.failure.traceback) : h("p", { class: "muted" }, "no traceback was recorded"));
  }
  if (d.problems.length) body.push(h("h4", null, "problems found reading it"), h("ul", null, ...d.problems.map((p) => h("li", null, p))));
  panel.lastChild.remove();
  panel.append(...body);
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
      if (b.checked) RUNS.columns.push(key); else RUNS.columns = RUNS.columns.filter((c) => c !== key);
      localStorage.setItem("lt.columns", JSON.stringify(RUNS.columns));
      applyFilters();
    });
    return h("label", { class: "colopt" }, b, key);
  };
  panel.append(h("b", null, "config"), ...allKeys("config").map((k) => add("config." + k)),
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
  if (RUNS.columns === null && LT.runs.length) RUNS.columns = defaultColumns();
  if (RUNS.columns === null) RUNS.columns = [];
  applyFilters();
}
