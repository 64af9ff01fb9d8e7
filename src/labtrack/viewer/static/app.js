// Wiring: tabs, URL hash, live polling of the run list.
//
// The hash holds the view, so that a link reproduces it: #tab=scalars&runs=1,2&tags=^eval/
// &smooth=0.6&x=relative&cols=config.width,summary.acc. Editing it by hand (or going back)
// switches to what it says.
"use strict";

const REFRESH = {
  runs: () => refreshRunsTable(),
  scalars: (live) => refreshScalars(live),
  text: (live) => refreshText(!live),
  figures: (live) => refreshFigures(!live),
  media: (live) => refreshImages(!live),
  compare: (live) => { if (!live) refreshCompare(); },
  artifacts: (live) => { if (!live) refreshArtifacts(); },
};

function writeHash() {
  const p = new URLSearchParams();
  p.set("tab", LT.tab);
  const sel = selectedHandles();
  if (sel.length) p.set("runs", sel.join(","));
  if (SC.filter) p.set("tags", SC.filter);
  if (SC.smoothing > 0) p.set("smooth", String(SC.smoothing));
  if (SC.xmode !== "step") p.set("x", SC.xmode);
  if (RUNS.columns && RUNS.chosen) p.set("cols", RUNS.columns.join(","));
  LT.hash = "#" + p.toString();
  if (location.hash !== LT.hash) history.replaceState(null, "", LT.hash);
}

// first: the page is loading (what the URL leaves out comes from local storage); otherwise
// the hash was edited and replaces the view (what it leaves out is the default).
function readHash(first) {
  const p = new URLSearchParams(location.hash.slice(1));
  const tab = p.get("tab");
  if (tab && REFRESH[tab]) LT.tab = tab;
  else if (!first) LT.tab = "runs";
  LT.selected.clear();
  const runs = p.get("runs");
  if (runs) for (const x of runs.split(",")) if (+x > 0) LT.selected.add(+x);
  setScalarOptions({
    filter: p.get("tags") || "",
    smoothing: p.has("smooth") ? +p.get("smooth") : (first ? null : 0),
    xmode: p.get("x") || (first ? null : "step"),
  });
  const cols = p.get("cols");
  if (cols !== null) setColumns(cols ? cols.split(",") : []);
}

function showTab(tab, live) {
  LT.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("main > .tab")) s.hidden = s.id !== "tab-" + tab;
  if (!live) writeHash();
  return REFRESH[tab](live);
}

// The runs a tab shows: the selection, or on the Scalars tab with nothing selected the most
// recent runs.
function shownHandles() { return LT.tab === "scalars" ? scalarHandles() : selectedHandles(); }

function showSelCount() {
  document.getElementById("selcount").textContent = LT.selected.size ? `${LT.selected.size} selected` : "";
}

async function pollRuns(first) {
  const live = document.getElementById("live");
  try {
    const d = await getJSON("/api/runs?" + qs({ since: LT.version }));
    live.classList.remove("down");
    live.title = "new runs and points appear automatically";
    if (typeof d.now === "number") LT.clockSkew = d.now - Date.now() / 1000;
    if (!d.unchanged) {
      LT.runs = d.runs;
      LT.version = d.version;
      LT.byHandle = new Map(d.runs.map((r) => [r.handle, r]));
      showSelCount();
      if (LT.tab === "runs" || first) refreshRunsTable();
    }
    if (first) await showTab(LT.tab, false);
    else if (LT.tab !== "runs" && (!d.unchanged || shownHandles().some((x) => (LT.byHandle.get(x) || {}).status === "running"))) await REFRESH[LT.tab](true);
  } catch (e) {
    live.classList.add("down");
    live.title = "server not reachable: " + e.message;
  }
  setTimeout(() => pollRuns(false), LT.refreshMs);
}

async function start() {
  try {
    const info = await getJSON("/api/info");
    const root = document.getElementById("root");
    root.textContent = info.root_shown;
    root.title = info.root;
    LT.root = info.root;
    LT.refreshMs = Math.max(250, info.refresh_ms / 2);  // poll twice per server re-scan
  } catch (e) {
    document.getElementById("root").textContent = "cannot reach the server: " + e.message;
  }
  readHash(true);
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab, false));
  window.addEventListener("hashchange", () => {
    if (location.hash === LT.hash) return;   // written by this page
    readHash(false);
    showSelCount();
    if (RUNS.built) applyFilters();
    showTab(LT.tab, false);
  });
  await pollRuns(true);
}

start();
