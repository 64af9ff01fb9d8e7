// Text, Figures, Media (images and videos) and Artifacts tabs: per tag, per selected run, a step slider.
"use strict";

const MEDIA = { keys: {} };

async function tagsFor(kind) {
  const handles = selectedHandles();
  if (!handles.length) return null;
  const t = await getJSON("/api/tags?" + qs({ runs: handles.join(",") }));
  return t[kind];
}

// Renders one tab of "tag -> runs -> slider over entries". Each source is
// { kind, load(handle, tag) -> entries, render(handle, tag, entry, body) }; a tab may show
// several kinds (the Media tab: images and videos), each tag block marked with its kind.
async function refreshPerTag(tabId, kind, what, loadEntries, render, force) {
  return refreshSources(tabId, [{ kind, load: loadEntries, render }], what, force);
}

async function refreshSources(tabId, sources, what, force) {
  const root = document.getElementById(tabId);
  const handles = selectedHandles();
  const key = handles.join(",");
  if (!handles.length) { clear(root).appendChild(emptyNote(`Select runs in the Runs tab to see their ${what}.`)); MEDIA.keys[tabId] = ""; return; }
  let all;
  try { all = await getJSON("/api/tags?" + qs({ runs: handles.join(",") })); } catch (e) { clear(root).appendChild(emptyNote("could not load tags: " + e.message)); return; }
  const byKind = sources.map((s) => all[s.kind] || {});
  const stamp = key + "|" + JSON.stringify(byKind);
  if (!force && MEDIA.keys[tabId] === stamp) return;   // nothing new: keep sliders where they are
  MEDIA.keys[tabId] = stamp;
  clear(root);
  const items = [];   // [tag, source, handles]
  sources.forEach((s, i) => { for (const [tag, hs] of Object.entries(byKind[i])) items.push([tag, s, hs]); });
  if (!items.length) { root.appendChild(emptyNote(`No ${what} logged by the selected runs.`)); return; }
  const byTag = new Map();
  for (const item of items) { if (!byTag.has(item[0])) byTag.set(item[0], []); byTag.get(item[0]).push(item); }
  for (const [group, gtags] of groupTags([...byTag.keys()].sort())) {
    const box = h("div");
    root.appendChild(section(`${group} (${gtags.length})`, box));
    for (const tag of gtags) {
      for (const [, src, hs] of byTag.get(tag)) {
        const row = h("div", { class: "tagrow" });
        box.appendChild(h("div", { class: "tagblock", dataset: { tag, kind: src.kind } }, h("h3", null, tag), row));
        for (const hd of hs) {
          const cell = h("div", { class: "runcell", dataset: { handle: hd } }, runHeader(hd));
          row.appendChild(cell);
          src.load(hd, tag).then((entries) => cell.appendChild(entrySlider(entries, (e, body) => src.render(hd, tag, e, body))))
            .catch((e) => cell.appendChild(emptyNote("unreadable: " + e.message)));
        }
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
  return refreshSources("tab-media", [
    { kind: "images",
      load: (hd, tag) => getJSON("/api/images?" + qs({ run: hd, tag })).then((d) => d.entries),
      render: (hd, tag, e, body) => { clear(body).appendChild(e.url ? mediaImage(e.url, tag + " step " + e.step) : emptyNote("file missing")); } },
    { kind: "videos",
      load: (hd, tag) => getJSON("/api/videos?" + qs({ run: hd, tag })).then((d) => d.entries),
      render: (hd, tag, e, body) => showVideo(tag, e, body) },
  ], "images or videos", force);
}

// An image that opens full size on click; small ones (a 64-px GIF) are shown scaled up, crisp.
function mediaImage(url, alt) {
  const img = h("img", { src: url, class: "media enlargeable", alt, title: "click to enlarge" });
  img.addEventListener("load", () => {
    const w = img.naturalWidth;
    if (w && w < 160) { img.style.width = (w * Math.floor(160 / w)) + "px"; img.classList.add("pixelated"); }
  });
  img.addEventListener("click", () => enlarge(img));
  return img;
}

function showVideo(tag, e, body) {
  clear(body);
  if (!e.url) { body.appendChild(emptyNote("file missing")); return; }
  if (e.format === "gif") { body.appendChild(mediaImage(e.url, tag + " step " + e.step)); return; }
  const v = h("video", { src: e.url, poster: e.poster, class: "media", controls: true, loop: true, playsinline: true, preload: "auto" });
  v.muted = true;
  v.autoplay = true;
  v.addEventListener("dblclick", () => enlarge(v));
  body.append(v, h("div", { class: "muted small" }, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); enlarge(v); } }, "full size")));
}

// Overlay with the image or video as large as the window allows (click or Escape closes).
function enlarge(el) {
  closeLightbox();
  const isVideo = el.tagName === "VIDEO";
  const w = isVideo ? el.videoWidth : el.naturalWidth, ht = isVideo ? el.videoHeight : el.naturalHeight;
  const big = isVideo ? h("video", { src: el.currentSrc || el.src, controls: true, loop: true, autoplay: true, playsinline: true })
                      : h("img", { src: el.currentSrc || el.src, alt: el.alt });
  if (isVideo) big.muted = true;
  if (w && ht) {
    const scale = Math.min(0.92 * window.innerWidth / w, 0.92 * window.innerHeight / ht);
    big.style.width = Math.round(w * scale) + "px";
    if (scale >= 2) big.classList.add("pixelated");
  }
  const box = h("div", { id: "lightbox", class: "lightbox", title: "click or press Escape to close" }, big);
  box.addEventListener("click", (ev) => { if (ev.target === box || !isVideo) closeLightbox(); });
  document.body.appendChild(box);
}

function closeLightbox() { const box = document.getElementById("lightbox"); if (box) box.remove(); }
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeLightbox(); });

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
          h("td", null, a.step === null || a.step === undefined ? "" : String(a.step)),
          h("td", null, Object.entries(a.metadata || {}).map(([k, v]) => `${k}=${fmtValue(v)}`).join(", "))));
      }
      box.appendChild(h("table", { class: "simple" },
        h("thead", null, h("tr", null, ...["name", "kind", "size", "sha256", "step", "metadata"].map((t) => h("th", null, t)))), tbody));
    } catch (e) { box.appendChild(emptyNote("unreadable: " + e.message)); }
  }
}
