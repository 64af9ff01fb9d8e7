"""A store is data, never code: what the viewer does with runs crafted by someone else.

The runs here are real runs whose data files were then edited the way a hostile copy could be
(records appended with :func:`frame_json`), served by a real ``python -m labtrack.viewer``.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

import labtrack
from labtrack.store import open_run
from labtrack.store._meta import DATA_FILE, META_DIR
from labtrack.store._records import KIND_ARTIFACT, KIND_MEDIA, frame_json

XSS = "<img src=x onerror=alert(1)>"
LINK = '<a href="https://evil.example">x</a>'


class RunsCode:
    """Unpickling this runs a shell command: what a crafted figure file can hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (self.command,))


def append_records(run_dir: Path, *records: tuple[int, dict]) -> None:
    """Edit a run the way a hostile copy could be: append records to its data file."""
    with open(run_dir / META_DIR / DATA_FILE, "ab") as fh:
        for kind, obj in records:
            fh.write(frame_json(kind, obj))


def figure_record(tag: str, **files: object) -> tuple[int, dict]:
    return (
        KIND_MEDIA,
        {"kind": "figure", "tag": tag, "step": 0, "wall": 1.0, "interactive": True, **files},
    )


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store with a crafted run (a code-running pickle, records naming outside files) beside
    a run that failed and runs whose names and config values are markup."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = tmp_path_factory.mktemp("trust")
    root = base / "store"
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"data": [], "layout": {"title": "OUTSIDE-SECRET"}}')
    (root / "mnist").mkdir(parents=True)
    (root / "root-secret.txt").write_text("ROOT-SECRET")
    pwned = base / "PWNED"

    with labtrack.start_run("mnist", name="crafted", dir=root) as run:
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [1, 2, 3])
        run.log_figure("curve", fig, step=0)
        plt.close(fig)
        run.log_image("frame", _png(base / "frame.png"), step=0)
    evil = run.dir / META_DIR / "media" / "figure" / "curve" / "evil.cpkl"
    evil.write_bytes(pickle.dumps(RunsCode(f"touch {pwned}")))
    png = str((run.dir / META_DIR / "media" / "figure" / "curve" / "0.png").relative_to(run.dir))
    secret_json = str(outside / "secret.json")
    append_records(
        run.dir,
        # as an older labtrack logged matplotlib figures: a pickle and a PNG, no plotly JSON
        figure_record("old", pickle=str(evil.relative_to(run.dir)), png=png, plotly=None),
        # records naming files outside the run, absolute or by '..'
        figure_record("leak", pickle=secret_json, png=png, plotly=secret_json),
        figure_record("nothing", pickle=secret_json, png="../../root-secret.txt", plotly="/etc"),
        (KIND_MEDIA, {"kind": "image", "tag": "abs", "step": 0, "wall": 1.0, "path": secret_json}),
        (
            KIND_MEDIA,
            {"kind": "image", "tag": "up", "step": 0, "wall": 1.0, "path": "../../root-secret.txt"},
        ),
        (KIND_ARTIFACT, {"name": "passwd", "kind": "other", "path": "/etc/passwd", "size": 1}),
        (
            KIND_ARTIFACT,
            {"name": "up", "kind": "other", "path": "../../root-secret.txt", "size": 11},
        ),
    )

    with (
        pytest.raises(ValueError, match="bad lr"),
        labtrack.start_run("mnist", name="failed", config={"lr": -1.0}, dir=root),
    ):
        raise ValueError("bad lr")

    for i, link in enumerate([LINK, "plain"]):
        with labtrack.start_run(
            "mnist", name=XSS if i == 0 else "plain", config={"link": link, "k": i}, dir=root
        ) as hostile:
            hostile.log({f"{XSS}/loss": 1.0 + i}, step=0)
            hostile.log_text(XSS, f"<script>alert(2)</script>{XSS}", step=0)
            hostile.summary["acc"] = 0.5 + i / 10
    broken = root / "mnist" / "broken-run" / META_DIR
    broken.mkdir(parents=True)
    (broken / "meta.json").write_text("{ not json")
    return {"root": root, "crafted": run.dir, "pwned": pwned, "outside": outside}


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(path)
    return path


@pytest.fixture(scope="module")
def server(crafted, server_cls):
    srv = server_cls(crafted["root"])
    yield srv
    srv.stop()


def _json(server, path):
    status, body, _ = server.get(path)
    assert status == 200, body
    return json.loads(body)


def _rows(server):
    return {r["name"]: r for r in _json(server, "/api/runs")["runs"]}


def test_a_crafted_figure_pickle_is_never_unpickled(server, crafted):
    h = _rows(server)["crafted"]["handle"]
    old = _json(server, f"/api/figure?run={h}&tag=old&step=0")
    assert not crafted["pwned"].exists()
    assert old["kind"] == "png"
    assert "older labtrack" in old["reason"]
    status, body, _ = server.get(old["url"])
    assert status == 200
    assert body.startswith(b"\x89PNG")
    listed = _json(server, f"/api/figures?run={h}&tag=old")["entries"]
    assert listed[0]["url"] == old["url"]
    # the file really does run code when unpickled: load_figure() trusts the store it reads
    view = open_run(crafted["crafted"])
    view.load_figure("old", 0)
    assert crafted["pwned"].exists()
    crafted["pwned"].unlink()


def test_a_figure_logged_now_is_drawn_from_the_json_written_when_it_was_logged(server):
    h = _rows(server)["crafted"]["handle"]
    curve = _json(server, f"/api/figure?run={h}&tag=curve&step=0")
    assert curve["kind"] == "plotly"
    assert curve["figure"]["data"][0]["y"] == [1.0, 2.0, 3.0]


def test_files_named_outside_the_run_are_never_served(server, crafted):
    h = _rows(server)["crafted"]["handle"]
    leak = _json(server, f"/api/figure?run={h}&tag=leak&step=0")
    assert leak["kind"] == "png"  # its PNG is inside the run; its "plotly" file is not
    assert "OUTSIDE-SECRET" not in json.dumps(leak)
    status, body, _ = server.get(f"/api/figure?run={h}&tag=nothing&step=0")
    assert status == 404
    assert b"SECRET" not in body
    for tag in ("abs", "up"):
        entries = _json(server, f"/api/images?run={h}&tag={tag}")["entries"]
        assert entries[0]["url"] is None
    arts = {a["name"]: a for a in _json(server, f"/api/artifacts?run={h}")["artifacts"]}
    assert arts["passwd"]["url"] is None
    assert arts["up"]["url"] is None
    assert _json(server, f"/api/images?run={h}&tag=frame")["entries"][0]["url"] is not None


def test_a_file_swapped_for_a_symlink_after_it_was_listed_is_not_served(server, crafted, tmp_path):
    # The viewer keeps a finished run's entries once read, so the check is made again on use.
    h = _rows(server)["crafted"]["handle"]
    url = _json(server, f"/api/images?run={h}&tag=frame")["entries"][0]["url"]
    assert server.get(url)[0] == 200
    frame = next((crafted["crafted"] / META_DIR / "media" / "image" / "frame").iterdir())
    saved = tmp_path / "frame.png"
    os.replace(frame, saved)
    os.symlink(crafted["root"] / "root-secret.txt", frame)
    try:
        assert _json(server, f"/api/images?run={h}&tag=frame")["entries"][0]["url"] is None
    finally:
        frame.unlink()
        os.replace(saved, frame)


def test_a_failed_run_says_why(server):
    rows = _rows(server)
    failed = rows["failed"]
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: bad lr"
    assert failed["unreadable"] is None
    detail = _json(server, f"/api/run?run={failed['handle']}")
    assert detail["failure"]["type"] == "ValueError"
    assert detail["failure"]["message"] == "bad lr"
    assert detail["failure"]["traceback"].startswith("Traceback (most recent call last)")
    assert 'raise ValueError("bad lr")' in detail["failure"]["traceback"]
    assert "test_trust.py" in detail["failure"]["traceback"]
    broken = rows["broken-run"]
    assert broken["status"] == "unreadable"
    assert "corrupt run metadata" in broken["unreadable"]
    assert broken["error"] is None
    assert rows["plain"]["error"] is None
    assert _json(server, f"/api/run?run={rows['plain']['handle']}")["failure"] is None
    assert server.get("/api/run?run=9999")[0] == 404


# -- in the browser ---------------------------------------------------------------------------


def _open(pg, server, tab, *names):
    rows = _rows(server)
    ids = ",".join(str(rows[n]["handle"]) for n in names)
    pg.goto("about:blank")  # a new page load: the viewer reads the tab and runs from the URL
    pg.goto(f"{server.url}/#tab={tab}&runs={ids}")


@pytest.mark.browser
def test_markup_in_names_and_config_is_shown_as_text_everywhere(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#run-scroll .row")
    assert page.get_by_text(XSS, exact=True).count() >= 1
    _open(page, server, "scalars", XSS, "plain")
    page.wait_for_function("document.body.dataset.chartsDrawn === '1'")
    assert page.locator(".ctitle").inner_text() == f"{XSS}/loss"
    _open(page, server, "text", XSS)
    pre = page.locator("pre.text")
    pre.wait_for()
    assert pre.inner_text() == f"<script>alert(2)</script>{XSS}"
    assert page.locator(".tagblock h3").inner_text() == XSS

    _open(page, server, "compare", XSS, "plain")
    page.wait_for_selector("#compare-plot .main-svg")
    page.wait_for_selector("#compare-plot .parcoords")
    texts = _plot_texts(page)
    assert LINK in texts  # the config value, literally, as a tick label
    assert "link" in texts
    selects = page.locator("#tab-compare select")  # metric, view, x
    selects.nth(1).select_option("scatter")
    selects.nth(2).select_option("link")
    page.wait_for_selector("#compare-plot .scatterlayer")
    texts = _plot_texts(page)
    assert LINK in texts
    assert XSS in texts  # the run's name beside its point
    box = page.locator("#compare-plot .scatterlayer .point").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator("#compare-plot .hoverlayer .hovertext")
    hover.wait_for()
    assert hover.locator("a").count() == 0
    assert LINK in hover.text_content()
    assert XSS in hover.text_content()
    assert page.locator("#compare-plot a").count() == 0
    assert page.locator("#tab-compare a").count() == 0
    assert page.locator('img[src="x"]').count() == 0


def _plot_texts(pg) -> list[str]:
    return pg.evaluate(
        "[...document.querySelectorAll('#compare-plot text')].map((t) => t.textContent)"
    )


@pytest.mark.browser
def test_the_crafted_figure_shows_its_png_and_runs_nothing(page, server, crafted):
    _open(page, server, "figures", "crafted")
    old = page.locator('.tagblock[data-tag="old"] .slotbody[data-kind="png"]')
    old.locator("img.media").wait_for()
    assert not crafted["pwned"].exists()
    page.wait_for_function(
        "document.querySelector('.tagblock[data-tag=\"old\"] img.media').naturalWidth > 0"
    )
    assert "older labtrack" in old.inner_text()
    page.wait_for_selector('.tagblock[data-tag="curve"] .slotbody[data-kind="plotly"] .main-svg')
    assert not crafted["pwned"].exists()


@pytest.mark.browser
def test_a_failed_run_shows_why_and_its_traceback(page, server):
    page.goto(server.url + "/")
    row = page.locator("#run-scroll .row", has_text="failed")
    row.wait_for()
    status = row.locator(".status")
    assert status.get_attribute("title") == "ValueError: bad lr"
    status.click()
    panel = page.locator("#run-detail")
    trace = panel.locator("pre.traceback")
    trace.wait_for()
    assert panel.locator(".failure").inner_text() == "ValueError: bad lr"
    assert trace.inner_text().startswith("Traceback (most recent call last)")
    assert 'raise ValueError("bad lr")' in trace.inner_text()
    assert page.locator("#selcount").inner_text() == ""  # opening it selects nothing
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    row.locator("a.why").click()
    trace.wait_for()
    panel.locator("button.close").click()
    assert panel.is_hidden()
    broken = page.locator("#run-scroll .row", has_text="broken-run")
    assert "corrupt run metadata" in broken.inner_text()
    assert "corrupt run metadata" in broken.locator(".status").get_attribute("title")
