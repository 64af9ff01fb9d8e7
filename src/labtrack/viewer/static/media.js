// Text, Figures, Media and Artifacts tabs: per tag, per selected run, an iteration slider.
"use strict";

const MEDIA = { keys: {} };

async function tagsFor(kind) {
  const handles = selectedHandles();
  if (!handles.length) return null;
  const t = await getJSON("/api/tags?" + qs({ runs: handles.join(",") }));
  return t[kind];
}

// Renders one tab of "tag -> runs -> slider over entries"; loadEntries(handle, tag) -> entries.
async function refreshPerTag(tabId, kind, what, loadEntries, render, force) {
  const root = document.getElementById(tabId);
  const handles = selectedHandles();
  const key = handles.join(",");
  if (!handles.length) { clear(root).appendChild(emptyNote(`Select runs in the Runs tab to see their ${what}.`)); MEDIA.keys[tabId] = ""; return; }
  let tags;
  try { tags = await tagsFor(kind); } catch (e) { clear(root).appendChild(emptyNote("could not load tags: " + e.message)); return; }
  const stamp = key + "|" + JSON.stringify(tags);
  if (!force && MEDIA.keys[tabId] === stamp) return;   // nothing new: keep sliders where they are
  MEDIA.keys[tabId] = stamp;
  clear(root);
  const names = Object.keys(tags || {});
  if (!names.length) { root.appendChild(emptyNote(`No ${what} logged by the selected runs.`)); return; }
  for (const [group, gtags] of groupTags(names)) {
    const box = h("div");
    root.appendChild(section(`${group} (${gtags.length})`, box));
    for (const tag of gtags) {
      const row = h("div", { class: "tagrow" });
      box.appendChild(h("div", { class: "tagblock", dataset: { tag } }, h("h3", null, tag), row));
      for (const hd of tags[tag]) {
        const cell = h("div", { class: "runcell", dataset: { handle: hd } }, runHeader(hd));
        row.appendChild(cell);
        loadEntries(hd, tag).then((entries) => cell.appendChild(entrySlider(entries, (e, body) => render(hd, tag, e, body))))
          .catch((e) => cell.appendChild(emptyNote("unreadable: " + e.message)));
      }
    }
  }
}

function refreshText(force) {
  return refreshPerTag("tab-text", "text", "text",
    (hd, tag) => getJSON("/api/text?" + qs({ run: hd, tag })).then((d) => d.entries),
    (hd, tag, e, body) => { clear(body).appendChild(h("pre", { class: "text" }, e.text)); }, force);
}

function refreshImages(force) {
  return refreshPerTag("tab-media", "images", "images",
    (hd, tag) => getJSON("/api/images?" + qs({ run: hd, tag })).then((d) => d.entries),
    (hd, tag, e, body) => {
      clear(body).appendChild(e.url ? h("img", { src: e.url, class: "media", alt: tag + " step " + e.step }) : emptyNote("file missing"));
    }, force);
}

function refreshFigures(force) {
  return refreshPerTag("tab-figures", "figures", "figures",
    (hd, tag) => getJSON("/api/figures?" + qs({ run: hd, tag })).then((d) => d.entries),
    (hd, tag, e, body) => showFigure(hd, tag, e, body), force);
}

async function showFigure(hd, tag, e, body) {
  const token = {};
  body.__fig = token;
  let payload;
  try {
    payload = await getJSON("/api/figure?" + qs({ run: hd, tag, step: e.step }));
  } catch (err) { clear(body).appendChild(emptyNote("could not load figure: " + err.message)); return; }
  if (body.__fig !== token) return;
  if (payload.kind === "plotly") {
    try {
      const Plotly = await loadPlotly();
      if (body.__fig !== token) return;
      let div = body.querySelector(".plotlyfig");
      if (!div) { clear(body); div = h("div", { class: "plotlyfig" }); body.appendChild(div); }
      const layout = Object.assign({ autosize: true, height: 380 }, payload.figure.layout || {});
      await Plotly.react(div, payload.figure.data || [], layout, { responsive: true, displaylogo: false });
      body.dataset.kind = "plotly";
      return;
    } catch (err) { payload = { kind: "png", url: payload.url, reason: "plotly failed: " + err.message }; }
  }
  clear(body);
  body.dataset.kind = "png";
  if (payload.url) body.appendChild(h("img", { src: payload.url, class: "media", alt: tag + " step " + e.step }));
  if (payload.reason) body.appendChild(h("div", { class: "muted small" }, "static image: " + payload.reason));
}

async function refreshArtifacts() {
  const root = clear(document.getElementById("tab-artifacts"));
  const handles = selectedHandles();
  if (!handles.length) { root.appendChild(emptyNote("Select runs in the Runs tab to list their files.")); return; }
  for (const hd of handles) {
    const box = h("div", { class: "artbox" }, runHeader(hd));
    root.appendChild(box);
    try {
      const d = await getJSON("/api/artifacts?" + qs({ run: hd }));
      if (!d.artifacts.length) { box.appendChild(emptyNote("no artifacts")); continue; }
      const tbody = h("tbody");
      for (const a of d.artifacts) {
        tbody.appendChild(h("tr", null,
          h("td", null, a.url ? h("a", { href: a.url + "?download=1", download: a.name }, a.name) : a.name),
          h("td", null, a.kind), h("td", { class: "num" }, fmtBytes(a.size)),
          h("td", { class: "mono" }, a.sha256 ? a.sha256.slice(0, 12) : ""),
          h("td", null, a.step === null || a.step === undefined ? "" : String(a.step))));
      }
      box.appendChild(h("table", { class: "simple" },
        h("thead", null, h("tr", null, ...["name", "kind", "size", "sha256", "step"].map((t) => h("th", null, t)))), tbody));
    } catch (e) { box.appendChild(emptyNote("unreadable: " + e.message)); }
  }
}
