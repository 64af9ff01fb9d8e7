// Wiring: tabs, URL hash (#tab=scalars&runs=1,2), live polling of the run list.
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
  history.replaceState(null, "", "#" + p.toString());
}

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const tab = p.get("tab");
  if (tab && REFRESH[tab]) LT.tab = tab;
  const runs = p.get("runs");
  if (runs) for (const x of runs.split(",")) if (+x > 0) LT.selected.add(+x);
}

function showTab(tab, live) {
  LT.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("main > .tab")) s.hidden = s.id !== "tab-" + tab;
  if (!live) writeHash();
  return REFRESH[tab](live);
}

async function pollRuns(first) {
  const live = document.getElementById("live");
  try {
    const d = await getJSON("/api/runs?" + qs({ since: LT.version }));
    live.classList.remove("down");
    live.title = "new runs and points appear automatically";
    if (!d.unchanged) {
      LT.runs = d.runs;
      LT.version = d.version;
      LT.byHandle = new Map(d.runs.map((r) => [r.handle, r]));
      document.getElementById("selcount").textContent = LT.selected.size ? `${LT.selected.size} selected` : "";
      if (LT.tab === "runs" || first) refreshRunsTable();
    }
    if (first) await showTab(LT.tab, false);
    else if (LT.tab !== "runs" && (!d.unchanged || selectedHandles().some((x) => LT.byHandle.get(x).status === "running"))) await REFRESH[LT.tab](true);
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
    LT.refreshMs = Math.max(250, info.refresh_ms / 2);  // poll twice per server re-scan
  } catch (e) {
    document.getElementById("root").textContent = "cannot reach the server: " + e.message;
  }
  readHash();
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab, false));
  await pollRuns(true);
}

start();
