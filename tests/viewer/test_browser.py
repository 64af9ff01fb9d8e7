"""The viewer used as a person would: real headless Chromium against a real server."""

from __future__ import annotations

import csv
import io
import time

import pytest

import labtrack

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def shot(pg, name):
    from pathlib import Path

    out = Path(__file__).resolve().parents[1] / "_screenshots"
    out.mkdir(exist_ok=True)
    pg.screenshot(path=str(out / f"{name}.png"))


def handles(server):
    import json

    rows = json.loads(server.get("/api/runs")[1])["runs"]
    return {r["name"]: r["handle"] for r in rows}


def wait_charts(pg):
    """Until every chart of the scalars tab is drawn."""
    pg.wait_for_function(
        "document.body.dataset.chartsExpected !== undefined"
        " && document.body.dataset.chartsDrawn === document.body.dataset.chartsExpected"
    )


def open_tab(pg, server, tab, names=()):
    ids = ",".join(str(handles(server)[n]) for n in names)
    pg.goto(f"{server.url}/#tab={tab}" + (f"&runs={ids}" if ids else ""))


def test_runs_table_shows_every_run_with_names_as_text(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#run-scroll .row")
    assert page.locator("#run-scroll .row").count() == 4
    assert page.locator("#run-count").inner_text() == "4 of 4 runs"
    # the hostile run name is shown as text, and no element was made from it
    assert page.get_by_text(XSS, exact=True).count() >= 1
    assert page.locator('img[src="x"]').count() == 0
    broken = page.locator(".row", has_text="broken-run")
    assert broken.locator(".status").inner_text() == "unreadable"
    assert "corrupt run metadata" in broken.inner_text()
    shot(page, "runs")


def test_search_filter_and_select(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#run-scroll .row")
    page.fill("#run-search", "lr0.0")
    page.wait_for_function("document.querySelectorAll('#run-scroll .row').length === 1")
    page.fill("#run-search", "")
    page.fill("#run-filter", "lr<0.2, model.act=relu")
    page.wait_for_function("document.querySelectorAll('#run-scroll .row').length === 2")
    page.select_option("#run-status", "completed")
    page.wait_for_function("document.querySelectorAll('#run-scroll .row').length === 2")
    page.locator("#run-scroll .row", has_text="lr0.01").click()
    assert page.locator("#selcount").inner_text() == "1 selected"
    assert "runs=" in page.url


def test_scalars_overlay_runs_and_count_points(page, server):
    open_tab(page, server, "scalars", ["lr0.1", "lr0.01"])
    wait_charts(page)
    card = page.locator('.card[data-tag="train/loss"]')
    assert card.get_attribute("data-traces") == "2"
    assert card.get_attribute("data-total") == "10000"
    shown = int(card.get_attribute("data-shown"))
    assert 0 < shown < 10000
    assert f"{shown:,} of 10,000 points" in card.locator(".points").inner_text()
    assert page.locator("details.group > summary").all_inner_texts() == [
        "eval (1)",
        "train (2)",
    ]
    # log scale, per tag
    card.locator("input.logscale").check()
    page.wait_for_function("SC.charts.get('train/loss').u.scales.y.distr === 3")
    assert page.evaluate("SC.charts.get('eval/acc').u.scales.y.distr") == 1
    # smoothing adds a smoothed line per run next to the faded raw one
    page.locator("#smoothing").fill("0.9")
    page.wait_for_function("SC.charts.get('eval/acc').u.series.length === 5")
    # hover shows exact values
    box = card.locator(".plot .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert "lr0.1" in card.locator(".tip").inner_text()
    shot(page, "scalars")
    # x axis by relative time: every chart re-fetches and starts at 0 s
    page.select_option("#xmode", "relative")
    page.wait_for_function("SC.charts.get('eval/acc').last.x === 'relative'")
    assert page.evaluate("SC.charts.get('eval/acc').last.series[0].x[0]") == 0
    page.select_option("#xmode", "step")
    card.locator("input.logscale").uncheck()
    page.locator("#smoothing").fill("0")


def test_tag_filter_and_collapsible_groups(page, server):
    open_tab(page, server, "scalars", ["lr0.1"])
    wait_charts(page)
    page.fill("#tag-filter", "^eval/")
    page.wait_for_function("document.querySelectorAll('.card').length === 1")
    assert page.locator(".card").get_attribute("data-tag") == "eval/acc"
    page.fill("#tag-filter", "no-such-tag")
    page.get_by_text("No tag matches the filter.").wait_for()
    page.fill("#tag-filter", "")
    wait_charts(page)
    train = page.locator("details.group", has=page.locator("summary", has_text="train"))
    train.locator("summary").click()  # collapse: its charts are hidden, the others stay
    assert not train.locator('.card[data-tag="train/loss"]').is_visible()
    assert page.locator('.card[data-tag="eval/acc"]').is_visible()


def test_zoom_fetches_finer_detail(page, server):
    open_tab(page, server, "scalars", ["lr0.1"])
    wait_charts(page)
    card = page.locator('.card[data-tag="train/loss"]')
    before = page.evaluate("SC.charts.get('train/loss').last.series[0].x.length")
    box = card.locator(".plot .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    page.wait_for_function("SC.charts.get('train/loss').zoomed === true")
    page.wait_for_function(
        "(() => { const s = SC.charts.get('train/loss').last.series[0];"
        " return s.x[0] > 1500 && s.x[s.x.length - 1] < 2600; })()"
    )
    xs = page.evaluate("SC.charts.get('train/loss').last.series[0].x")
    # every point of the window is there now (consecutive steps)
    assert xs == list(range(int(xs[0]), int(xs[-1]) + 1))
    assert before < 5000


def test_csv_download_is_full_resolution(page, server):
    open_tab(page, server, "scalars", ["lr0.1", "lr0.01"])
    wait_charts(page)
    with page.expect_download() as info:
        page.locator('.card[data-tag="train/loss"] a.btn', has_text="CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    assert len(rows) == 10_000
    with page.expect_download() as png:
        page.locator('.card[data-tag="train/loss"] button.btn', has_text="PNG").click()
    assert open(png.value.path(), "rb").read(4) == b"\x89PNG"


def test_xss_tag_and_run_render_as_text_in_charts(page, server):
    open_tab(page, server, "scalars", [XSS])
    page.wait_for_function("document.body.dataset.chartsDrawn === '1'")
    assert page.locator(".ctitle").inner_text() == XSS
    assert page.locator(".legend").inner_text().startswith(XSS)
    assert page.locator('img[src="x"]').count() == 0


def test_text_slider(page, server):
    open_tab(page, server, "text", ["lr0.1"])
    pre = page.locator('.tagblock[data-tag="samples"] pre.text')
    pre.wait_for()
    assert pre.inner_text().startswith("step 20: <b><img src=x onerror=alert(1)></b>")
    page.locator(".itslider").fill("1")
    page.wait_for_function("document.querySelector('pre.text').textContent.startsWith('step 10')")
    assert page.locator(".sliderrow span").inner_text() == "step 10 (2 of 3)"
    assert page.locator('img[src="x"]').count() == 0


def test_figures_interactive_and_static(page, server):
    open_tab(page, server, "figures", ["lr0.1"])
    page.wait_for_selector('.tagblock[data-tag="curve"] .slotbody[data-kind="plotly"] .main-svg')
    page.wait_for_selector(
        '.tagblock[data-tag="landscape"] .slotbody[data-kind="plotly"] .gl-container canvas',
        state="attached",
    )
    page.wait_for_selector('.tagblock[data-tag="plotly"] .slotbody[data-kind="plotly"]')
    bars = page.locator('.tagblock[data-tag="bars"] .slotbody[data-kind="png"] img.media')
    bars.wait_for()
    page.wait_for_function(
        "document.querySelector('.tagblock[data-tag=\"bars\"] img.media').naturalWidth > 0"
    )
    shot(page, "figures")


def test_media_slider_changes_the_image(page, server):
    open_tab(page, server, "media", ["lr0.1"])
    img = page.locator('.tagblock[data-tag="frames"] img.media')
    img.wait_for()
    assert img.get_attribute("src").endswith("/2.png")
    page.locator('.tagblock[data-tag="frames"] .itslider').fill("0")
    page.wait_for_function(
        "document.querySelector('.tagblock[data-tag=\"frames\"] img.media').src.endsWith('/0.png')"
    )
    gif = page.locator('.tagblock[data-tag="episode"] img.media')
    assert gif.get_attribute("src").endswith(".gif")
    page.wait_for_function(
        "document.querySelector('.tagblock[data-tag=\"episode\"] img.media').naturalWidth === 16"
    )


def test_compare_highlights_differing_config(page, server):
    open_tab(page, server, "compare", ["lr0.1", "lr0.01"])
    page.wait_for_selector("#compare-table")
    rows = {
        r.locator("td.key").inner_text(): r.get_attribute("class")
        for r in page.locator("#compare-table tbody tr:not(.sep)").all()
    }
    assert rows["lr"] == "diff"
    assert rows["model.depth"] == "diff"
    assert rows["seed"] == ""
    assert rows["model.act"] == ""
    page.wait_for_selector("#compare-plot .main-svg")
    shot(page, "compare")


def test_artifacts_list_and_download(page, server):
    open_tab(page, server, "artifacts", ["lr0.1"])
    link = page.locator("#tab-artifacts a", has_text="model0.bin")
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    assert open(info.value.path(), "rb").read() == b"weights" * 10


def test_traversal_urls_are_refused_in_the_browser(page, server):
    for path in ["/files/..%2f..%2f..%2fetc%2fpasswd", "/files/%2e%2e/%2e%2e/etc/passwd"]:
        resp = page.goto(server.url + path)
        assert resp.status in (403, 404)
        assert "root:" not in page.content()


def test_new_runs_and_points_appear_without_reload(browser, tmp_path, server_cls):
    with labtrack.start_run("live", name="first", dir=tmp_path) as run:
        run.log({"loss": 1.0}, step=0)
    srv = server_cls(tmp_path)
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = ctx.new_page()
    try:
        pg.goto(srv.url + "/")
        pg.wait_for_function("document.querySelectorAll('#run-scroll .row').length === 1")
        live = labtrack.start_run("live", name="second", dir=tmp_path)
        live.log({"loss": 2.0}, step=0)
        live.flush()
        started = time.monotonic()
        pg.wait_for_function(
            "document.querySelectorAll('#run-scroll .row').length === 2", timeout=5000
        )
        assert time.monotonic() - started < 2.5
        pg.locator("#run-scroll .row", has_text="second").click()
        pg.locator("#tabs button[data-tab=scalars]").click()
        pg.wait_for_function(
            "document.querySelector('.card[data-tag=\"loss\"]')?.dataset.total === '1'"
        )
        for step in range(1, 50):
            live.log({"loss": 2.0 + step}, step=step)
        live.flush()
        pg.wait_for_function(
            "document.querySelector('.card[data-tag=\"loss\"]').dataset.total === '50'",
            timeout=5000,
        )
        live.finish()
    finally:
        ctx.close()
        srv.stop()


def test_screenshot_of_a_typical_comparison(browser, tmp_path, server_cls):
    """The picture in the README: four runs of a sweep, smoothed, one of them still running."""
    import numpy as np

    rng = np.random.default_rng(0)
    home = tmp_path / "home"
    store = home / "runs"
    runs = []
    for i, (lr, depth) in enumerate([(0.1, 2), (0.03, 4), (0.01, 4), (0.003, 8)]):
        run = labtrack.start_run(
            "cifar10",
            name=f"resnet-d{depth}-lr{lr}",
            config={"lr": lr, "depth": depth},
            dir=store,
        )
        n = 20_000 if i < 3 else 12_000
        steps = np.arange(n)
        decay = np.exp(-steps / (3000 + 1500 * i))
        for s in range(0, n, 10):
            noise = rng.normal(0, 0.04, 4)
            run.log(
                {
                    "train/loss": float(2.3 * decay[s] + 0.1 * i + 0.15 + noise[0]),
                    "train/acc": float(0.95 - 0.85 * decay[s] - 0.03 * i + noise[1] / 3),
                    "eval/loss": float(2.3 * decay[s] + 0.12 * i + 0.3 + noise[2] / 2),
                    "eval/acc": float(0.9 - 0.8 * decay[s] - 0.04 * i + noise[3] / 4),
                },
                step=int(s),
            )
        run.summary["best_acc"] = 0.9 - 0.04 * i
        if i < 3:
            run.finish()
        else:
            run.flush()
        runs.append(run)
    srv = server_cls(store, env={"HOME": str(home)})
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    pg = ctx.new_page()
    try:
        pg.goto(srv.url + "/#tab=scalars&runs=1,2,3,4")
        pg.get_by_text("~/runs", exact=True).wait_for()  # the store, as a shell would show it
        assert pg.locator("#root").get_attribute("title") == str(store.resolve())
        pg.locator("#smoothing").fill("0.6")
        wait_charts(pg)
        assert pg.locator('.card[data-tag="train/loss"]').get_attribute("data-traces") == "4"
        card = pg.locator('.card[data-tag="eval/loss"]')
        box = card.locator(".plot .u-over").bounding_box()
        pg.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        shot(pg, "viewer")
    finally:
        ctx.close()
        srv.stop()
        runs[-1].finish()
