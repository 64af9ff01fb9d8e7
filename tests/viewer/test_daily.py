"""The viewer as a researcher uses it every day (issue 15): real Chromium against a real server.

One store for the module: a sweep of twelve runs over ``width`` (one of them sets a key no other
run has), a failed run with an artifact logged with metadata, a run still running, and a run
whose experiment has a long name.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import labtrack
from labtrack.viewer.figures import plain_reason

SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"
SRC = str(Path(__file__).resolve().parents[2] / "src")

LONG_EXPERIMENT = "imagenet-resnet50-ablation-long-name"
SWEEP = 12


def make_daily_store(root: Path) -> labtrack.Run:
    """Writes the module's runs; returns the one left running (finished at teardown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    for i in range(SWEEP):
        width = 16 * (i + 1)
        config = {"name": f"w{width}", "width": width, "lr": 0.1, "seed": 0}
        if i == 0:
            config["only_here"] = 1  # a key set in one run only
        if i in (1, 2):
            config["dropout"] = 0.1 * i  # missing from the others
        if i == 3:
            config.update({f"opt.k{k:02d}": k for k in range(40)})  # a long config
        with labtrack.start_run("sweep", name=f"w{width}", config=config, dir=root) as run:
            for step in range(20):
                run.log({"loss": 1.0 / (step + 1) + 1.0 / width, "acc": step / 20}, step=step)
            run.summary["acc"] = 0.5 + i / 100
            if i == 0:
                fig, ax = plt.subplots()
                gx, gy = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20))
                ax.contourf(gx, gy, gx**2 + gy**2)
                run.log_figure("landscape", fig, step=0)
                ax2 = plt.subplots()[1]
                ax2.plot([0, 1, 2], [0, 1, 4])
                run.log_figure("curve", ax2.figure, step=0)
                plt.close("all")
        time.sleep(0.01)  # distinct start times: "most recent" is well defined
    model = root / "model.pt"
    model.write_bytes(b"weights")
    with pytest.raises(ValueError, match="loss is nan"):
        diverge(root, model)
    with labtrack.start_run(LONG_EXPERIMENT, name="long", dir=root) as run:
        run.log({"loss": 0.5}, step=0)
    live = labtrack.start_run("sweep", name="live", config={"width": 8192}, dir=root)
    live.log({"loss": 2.0}, step=0)
    live.flush()
    return live


def diverge(root: Path, model: Path) -> None:
    """A run that fails: its status says why, and its artifact keeps its metadata."""
    with labtrack.start_run(
        "sweep",
        name="diverged",
        config={"width": 4096, "lr": 1.0},
        tags={"team": "vision"},
        dir=root,
    ) as run:
        run.log({"loss": 3.0}, step=0)
        run.log_artifact(model, kind="model", metadata={"val_acc": 0.91, "epoch": 3})
        raise ValueError("loss is nan")


@pytest.fixture(scope="module")
def daily_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("daily")
    live = make_daily_store(root)
    yield root
    live.finish()


@pytest.fixture(scope="module")
def server(daily_store: Path, server_cls):  # type: ignore[no-untyped-def]
    """This module's viewer (the shared ``page`` fixture opens pages on it)."""
    srv = server_cls(daily_store)
    yield srv
    srv.stop()


def rows(server) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(server.get("/api/runs")[1])["runs"]}


def ids(server, *names: str) -> str:
    by_name = rows(server)
    return ",".join(str(by_name[n]["handle"]) for n in names)


def wait_charts(pg) -> None:
    pg.wait_for_function(
        "document.body.dataset.chartsExpected !== undefined"
        " && document.body.dataset.chartsDrawn === document.body.dataset.chartsExpected"
    )


def shot(pg, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def seconds(text: str) -> float:
    """ "12.3 s" / "1 m 4 s" / "2 h 5 m" as seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+) (h|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


# -- Scalars -----------------------------------------------------------------------------------
@pytest.mark.browser
def test_scalars_with_nothing_selected_shows_the_most_recent_runs(page, server):
    page.goto(server.url + "/#tab=scalars")
    wait_charts(page)
    loss = page.locator('.card[data-tag="loss"]')
    assert loss.get_attribute("data-traces") == "10"
    readable = [r for r in rows(server).values() if r["status"] != "unreadable"]
    note = page.locator("#scalar-note")
    assert note.inner_text().startswith(f"Showing the 10 most recent of {len(readable)} runs")
    newest = sorted(readable, key=lambda r: r["start_time"])[-10:]
    shown = {t.split(" last ")[0] for t in loss.locator(".lgitem").all_inner_texts()}
    assert shown == {r["name"] for r in newest}
    shot(page, "daily-scalars-recent")
    note.get_by_role("button", name=f"show all {len(readable)}").click()
    page.wait_for_function(
        f"document.querySelector('.card[data-tag=\"loss\"]')?.dataset.traces === '{len(readable)}'"
    )
    assert page.locator("#scalar-note").inner_text().startswith(f"Showing all {len(readable)} runs")
    # a selection narrows it
    page.goto(server.url + f"/#tab=scalars&runs={ids(server, 'w16', 'w32')}")
    page.reload()
    wait_charts(page)
    assert page.locator('.card[data-tag="loss"]').get_attribute("data-traces") == "2"
    assert page.locator("#scalar-note").inner_text().startswith("Showing the 2 selected runs")


@pytest.mark.browser
def test_legend_says_what_it_shows_and_hover_highlights_the_run(page, server):
    page.goto(server.url + f"/#tab=scalars&runs={ids(server, 'w16', 'w32')}")
    wait_charts(page)
    card = page.locator('.card[data-tag="loss"]')
    item = card.locator(".lgitem", has_text="w16")
    # the run's name, its last value and the step of it (1/20 + 1/16 at step 19)
    assert item.inner_text() == "w16 last 0.1125 at step 19"
    w16 = rows(server)["w16"]["handle"]
    item.hover()
    page.wait_for_function(
        f"document.querySelector('.card[data-tag=\"acc\"]').dataset.highlight === '{w16}'"
    )
    # in every chart, the other run's line is faded, the hovered one's is not
    alphas = page.evaluate(
        "[...SC.charts.values()].map((c) => c.u.series.slice(1).map((s) => [s.run, s.alpha]))"
    )
    for chart in alphas:
        assert {run: alpha for run, alpha in chart} == {
            w16: 1,
            rows(server)["w32"]["handle"]: 0.15,
        }
    page.mouse.move(5, 5)
    page.wait_for_function(
        "document.querySelector('.card[data-tag=\"acc\"]').dataset.highlight === ''"
    )
    # hovering a run in the runs table highlights it too
    page.locator("#tabs button[data-tab=runs]").click()
    page.locator(f'#run-scroll .row[data-handle="{rows(server)["w32"]["handle"]}"]').hover()
    assert page.evaluate("LT.highlighted") == rows(server)["w32"]["handle"]


@pytest.mark.browser
def test_a_run_has_one_colour_in_every_tab(page, server):
    w16 = rows(server)["w16"]["handle"]
    page.goto(server.url + f"/#tab=scalars&runs={ids(server, 'w16', 'w32')}")
    wait_charts(page)

    def colour(selector: str) -> str:
        return page.locator(selector).first.evaluate("el => getComputedStyle(el).backgroundColor")

    in_chart = colour('.card[data-tag="loss"] .lgitem:has-text("w16") .swatch')
    page.locator("#tabs button[data-tab=runs]").click()
    assert colour(f'#run-scroll .row[data-handle="{w16}"] .swatch') == in_chart
    page.locator("#tabs button[data-tab=compare]").click()
    assert colour('#compare-table th:has-text("w16") .swatch') == in_chart
    page.locator("#tabs button[data-tab=figures]").click()
    assert colour(f'#tab-figures .runcell[data-handle="{w16}"] .swatch') == in_chart


# -- Runs table --------------------------------------------------------------------------------
@pytest.mark.browser
def test_runs_table_shows_the_swept_keys_id_and_tags(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#run-scroll .row")
    header = page.locator(".thead .cell").all_inner_texts()
    assert header[1:4] == ["id", "experiment", "name"]
    assert "tags" in header
    # the keys that vary come first; a key set in one run only is not a default column
    extra = header[header.index("tags") + 1 :]
    assert extra[:3] == ["width", "lr", "dropout"]  # swept in 14, 13 and 2 runs
    assert "only_here" not in extra
    assert "name" not in extra  # the runner's config key that only repeats the run's name
    by_name = rows(server)
    diverged = page.locator(f'#run-scroll .row[data-handle="{by_name["diverged"]["handle"]}"]')
    assert by_name["diverged"]["id"] in diverged.inner_text()
    assert "team=vision" in diverged.inner_text()
    # experiment and start time are not cut off when there is room
    page.fill("#run-search", "long")
    page.wait_for_function("document.querySelectorAll('#run-scroll .row').length === 1")
    cells = page.locator("#run-scroll .row .cell")
    for i in (2, 5):  # experiment, start
        cut = cells.nth(i).evaluate("el => el.scrollWidth > el.clientWidth")
        assert not cut, cells.nth(i).inner_text()
    assert cells.nth(2).inner_text() == LONG_EXPERIMENT
    shot(page, "daily-runs")


@pytest.mark.browser
def test_chosen_columns_are_kept_per_store_and_in_the_url(page, server):
    page.goto(server.url + "/#tab=runs&cols=config.seed,summary.acc")
    page.wait_for_selector("#run-scroll .row")
    header = page.locator(".thead .cell").all_inner_texts()
    assert header[header.index("tags") + 1 :] == ["seed", "Σ acc"]
    # the chooser adds one, and the URL says so
    page.get_by_role("button", name="columns").click()
    page.locator(".colopt", has_text="config.width").locator("input").check()
    page.wait_for_function(
        "location.hash.includes('cols=config.seed%2Csummary.acc%2Cconfig.width')"
    )
    # a new page on the same store without cols in its URL gets them back from local storage
    other = page.context.new_page()
    other.goto(server.url + "/")
    other.wait_for_selector("#run-scroll .row")
    header = other.locator(".thead .cell").all_inner_texts()
    assert header[header.index("tags") + 1 :] == ["seed", "Σ acc", "width"]
    stored = other.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('lt.columns:'))")
    assert stored == ["lt.columns:" + rows_root(server)]
    other.close()
    page.evaluate("localStorage.clear()")


def rows_root(server) -> str:
    return json.loads(server.get("/api/info")[1])["root"]


@pytest.mark.browser
def test_running_runs_duration_counts_up(page, server):
    live = rows(server)["live"]
    page.goto(server.url + "/")
    cell = page.locator(f'#run-scroll .row[data-handle="{live["handle"]}"] .dur')
    cell.wait_for()
    first = seconds(cell.inner_text())
    age = time.time() - live["start_time"]
    assert abs(first - age) < 3, (cell.inner_text(), age)
    page.wait_for_timeout(2500)
    assert seconds(cell.inner_text()) >= first + 1  # ticks once a second


# -- Run detail --------------------------------------------------------------------------------
@pytest.mark.browser
def test_run_detail_panel_shows_everything_about_a_run(page, server, daily_store):
    view = next(v for v in labtrack.Store(daily_store).runs() if v.name == "diverged")
    page.goto(server.url + "/")
    by_name = rows(server)
    row = page.locator(f'#run-scroll .row[data-handle="{by_name["diverged"]["handle"]}"]')
    row.locator("button.info").click()
    panel = page.locator("#run-detail")
    panel.locator('[data-section="artifacts"] table').wait_for()

    def section(name: str) -> str:
        return panel.locator(f'[data-section="{name}"]').inner_text()

    run = section("run")
    assert "failed: ValueError: loss is nan" in run
    assert f"host\t{socket.gethostname()}" in run
    assert f"pid\t{os.getpid()}" in run
    assert f"id\t{view.id}" in run
    assert "team=vision" in run
    if view.git:
        assert view.git["commit"] in run
    assert "width\t4096" in section("config")
    assert "lr\t1" in section("config")
    assert section("params")  # present, even when empty
    artifacts = section("artifacts")
    assert "model.pt" in artifacts
    assert "val_acc=0.91" in artifacts and "epoch=3" in artifacts
    assert panel.locator("pre.traceback").inner_text().startswith("Traceback")
    assert page.locator("#selcount").inner_text() == ""  # opening it selects nothing
    shot(page, "daily-detail")
    page.keyboard.press("Escape")
    # a finished run's summary
    page.locator(f'#run-scroll .row[data-handle="{by_name["w16"]["handle"]}"] button.info').click()
    panel.locator('[data-section="summary"] table').wait_for()
    assert "acc\t0.5" in section("summary")


@pytest.mark.browser
def test_the_artifacts_tab_shows_each_artifacts_metadata(page, server):
    page.goto(server.url + f"/#tab=artifacts&runs={ids(server, 'diverged')}")
    table = page.locator("#tab-artifacts table.simple")
    table.wait_for()
    assert "metadata" in table.locator("thead").inner_text()
    row = table.locator("tbody tr", has_text="model.pt").inner_text()
    assert "val_acc=0.91" in row and "epoch=3" in row


# -- Compare -----------------------------------------------------------------------------------
@pytest.mark.browser
def test_compare_draws_missing_values_as_missing(page, server):
    page.goto(server.url + f"/#tab=compare&runs={ids(server, 'w16', 'w32', 'w48', 'w64')}")
    page.wait_for_selector("#compare-plot .main-svg")
    dims = page.evaluate(
        "document.getElementById('compare-plot').data[0].dimensions"
        ".map((d) => ({label: d.label, values: d.values, tickvals: d.tickvals,"
        " ticktext: d.ticktext, range: d.range}))"
    )
    labels = [d["label"] for d in dims]
    assert "name" not in labels  # names the run: no axis
    assert labels[-1] == "acc"
    dropout = next(d for d in dims if d["label"] == "dropout")
    order = page.evaluate("selectedHandles().map((h) => LT.byHandle.get(h).name)")
    by_run = dict(zip(order, dropout["values"], strict=True))
    # w16 and w64 have no dropout: drawn at the "(missing)" tick below the others
    assert dropout["ticktext"][0] == "(missing)"
    missing = dropout["tickvals"][0]
    assert by_run["w16"] == missing and by_run["w64"] == missing
    assert missing == dropout["range"][0] < min(by_run["w32"], by_run["w48"])
    # the lines are coloured by the metric whose axis is the last one: no second scale
    assert page.locator("#compare-plot .colorbar").count() == 0
    # the config table is one table of the page, not a box scrolled on its own
    wrap = page.locator(".cmpwrap")
    assert wrap.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    page.locator("#compare-table td.key", has_text="opt.k39").scroll_into_view_if_needed()
    assert page.locator("#compare-table td.key", has_text="opt.k39").is_visible()
    SHOTS.mkdir(exist_ok=True)
    page.locator("#compare-plot").screenshot(path=str(SHOTS / "daily-compare.png"))


# -- Figures -----------------------------------------------------------------------------------
def test_technical_reasons_are_phrased_plainly():
    assert plain_reason("QuadContourSet") == (
        "contour plots cannot be drawn interactively; showing the PNG"
    )
    assert plain_reason("PolyCollection artists cannot be drawn interactively") == (
        "filled areas and violin plots cannot be drawn interactively; showing the PNG"
    )
    assert "(FooBarArtist)" in plain_reason("FooBarArtist")
    assert plain_reason("logged with interactive=False") == "logged with interactive=False"


@pytest.mark.browser
def test_figures_are_wide_and_a_static_one_says_why(page, server):
    page.goto(server.url + f"/#tab=figures&runs={ids(server, 'w16')}")
    page.wait_for_selector('.tagblock[data-tag="curve"] .slotbody[data-kind="plotly"] .main-svg')
    static = page.locator('.tagblock[data-tag="landscape"] .slotbody[data-kind="png"]')
    static.locator("img.media").wait_for()
    reason = static.inner_text()
    assert "contour plots cannot be drawn interactively" in reason
    assert not re.search(r"[A-Z][a-z]+[A-Z]\w*Set", reason)  # no class names
    width = page.locator('.tagblock[data-tag="curve"] .runcell').bounding_box()["width"]
    assert width >= 640  # of a 1400-px window
    shot(page, "daily-figures")


# -- URLs --------------------------------------------------------------------------------------
@pytest.mark.browser
def test_the_url_holds_the_view_and_editing_it_switches(page, server):
    runs = ids(server, "w16", "w32")
    page.goto(server.url + f"/#tab=scalars&runs={runs}&tags=%5Eloss&smooth=0.5&x=relative")
    wait_charts(page)
    assert page.locator("#tag-filter").input_value() == "^loss"
    assert page.locator(".card").count() == 1
    assert page.locator("#smoothing").input_value() == "0.5"
    assert page.locator("#xmode").input_value() == "relative"
    assert page.evaluate("SC.charts.get('loss').last.x") == "relative"
    page.locator("#smoothing").fill("0.7")
    page.wait_for_function("location.hash.includes('smooth=0.7')")
    page.select_option("#xmode", "step")
    page.wait_for_function("!location.hash.includes('x=')")
    page.fill("#tag-filter", "acc")
    page.wait_for_function("location.hash.includes('tags=acc')")
    # the link reproduces the view in a fresh page
    link = page.url
    other = page.context.new_page()
    other.goto(link)
    wait_charts(other)
    assert other.locator(".card").get_attribute("data-tag") == "acc"
    assert other.locator("#smoothing").input_value() == "0.7"
    assert other.locator("#tabs button.active").inner_text() == "Scalars"
    other.close()
    # editing #tab= switches tabs
    page.evaluate(f"location.hash = '#tab=compare&runs={runs}'")
    page.wait_for_selector("#compare-table")
    assert page.locator("#tabs button.active").inner_text() == "Compare"
    assert page.locator("#tab-scalars").is_hidden()
    page.evaluate("location.hash = '#tab=runs'")
    page.wait_for_function("!document.getElementById('tab-runs').hidden")
    assert page.locator("#selcount").inner_text() == ""  # the URL's selection: none


# -- Errors ------------------------------------------------------------------------------------
def test_port_already_in_use_names_the_port_and_the_fix(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "labtrack.viewer", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": SRC},
        )
    assert out.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr
    assert f"--port {port + 1}" in out.stderr and "--port 0" in out.stderr
    assert "Traceback" not in out.stderr
