"""How fast the viewer draws big stores, in headless Chromium, next to TensorBoard.

    python bench/make_viewer_store.py bench/_results/viewer     # once: the stores
    python bench/bench_viewer.py bench/_results/viewer          # prints medians and ratios

Measures (medians of --repeat page loads, each in a fresh browser context):
- scalars API: one downsampled-series request per tag for all runs, over --api-starts fresh
  server processes (cold = the first request for a tag after the server started, warm = the
  repeats); measured before the browser starts, so its start-up does not share the two cores.
  With --drop-caches (root only) the OS page cache is emptied before each start, so the cold
  requests read from disk;
- the scalars tab with every run of ``DIR/big`` selected: navigation -> first chart drawn and
  -> all charts drawn (timestamps the page records with ``performance.now()``);
- the runs table over ``DIR/many``: navigation -> rows rendered, and frame times while scrolling
  it from top to bottom;
- TensorBoard over ``DIR/tb`` (the same scalars as event files), started on 127.0.0.1 with a
  time limit: navigation -> first chart drawn, after it finished loading the files.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from labtrack.viewer._serve import DEFAULT_CACHE_MB

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 60) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


class Viewer:
    def __init__(self, root: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labtrack.viewer", str(root), "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC},
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return int(next(ln.split()[1] for ln in fh if ln.startswith("VmRSS"))) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def drop_page_cache() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--drop-caches needs root on Linux: {exc}") from None


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def bench_api(v: Viewer, quiet: bool = False) -> tuple[list[int], list[float], list[float]]:
    runs = json.loads(get(v.url + "/api/runs"))["runs"]
    handles = [r["handle"] for r in runs]
    ids = ",".join(map(str, handles))
    tags = list(json.loads(get(v.url + f"/api/tags?runs={ids}"))["scalars"])
    cold, warm = [], []
    for i, tag in enumerate(tags):
        for rep in range(6):
            t = time.perf_counter()
            body = get(
                v.url
                + "/api/scalars?"
                + urllib.parse.urlencode({"tag": tag, "runs": ids, "width": 560})
            )
            (cold if rep == 0 else warm).append((time.perf_counter() - t) * 1000)
            if i == 0 and rep == 0 and not quiet:
                data = json.loads(body)
                shown = sum(s["shown"] for s in data["series"])
                total = sum(s["total"] for s in data["series"])
                print(f"  {tag}: {len(data['series'])} runs, {shown:,} of {total:,} points sent")
    return handles, cold, warm


def page_times(browser, url: str, marker: str, repeat: int) -> list[dict[str, float]]:
    out = []
    for _ in range(repeat):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function(f"document.body !== null && ({marker})", timeout=60_000)
        out.append(page.evaluate("({...document.body.dataset})"))
        ctx.close()
    return out


def scroll_frames(browser, url: str) -> tuple[float, float, int]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function("document.body.dataset.tableAt !== undefined")
    frames = page.evaluate(
        """async () => {
          const sc = document.getElementById('run-scroll');
          const times = [];
          let last = performance.now();
          while (sc.scrollTop + sc.clientHeight < sc.scrollHeight - 1) {
            sc.scrollTop += 400;
            await new Promise(r => requestAnimationFrame(r));
            const now = performance.now(); times.push(now - last); last = now;
          }
          return times;
        }"""
    )
    ctx.close()
    frames.sort()
    return med(frames), frames[int(len(frames) * 0.95)], len(frames)


def tensorboard(
    tb_dir: Path, browser, repeat: int, runs: int, points: int, limit: float
) -> list[float] | None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(tb_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=true",
            "--reload_interval",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:  # until every run's last tag is loaded to its last step
            if time.monotonic() - started > limit or proc.poll() is not None:
                print(f"  TensorBoard did not finish loading within {limit:.0f} s")
                return None
            try:
                done = 0
                for r in range(runs):
                    q = urllib.parse.urlencode({"run": f"run{r:02d}", "tag": "lr"})
                    pts = json.loads(get(f"{url}/data/plugin/scalars/scalars?{q}", timeout=10))
                    done += bool(pts) and pts[-1][1] == points - 1
                if done == runs:
                    break
            except Exception:
                pass
            time.sleep(1)
        print(f"  TensorBoard loaded the event files in {time.monotonic() - started:.1f} s")
        times = []
        for _ in range(repeat):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            # first chart drawn = the first scalar data response has arrived and its card's
            # canvas has been painted (two animation frames later)
            with page.expect_response(
                lambda r: "/data/plugin/timeseries/timeSeries" in r.url, timeout=120_000
            ):
                page.goto(url + "/#timeseries", wait_until="commit")
            page.wait_for_function(
                "document.querySelector('scalar-card line-chart canvas') !== null", timeout=60_000
            )
            page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            times.append(page.evaluate("performance.now()"))
            ctx.close()
        return times
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dir", type=Path)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument(
        "--tb-limit", type=float, default=600.0, help="seconds TensorBoard may take to load"
    )
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--api-starts", type=int, default=3, help="server starts for the API figures")
    p.add_argument("--cache-mb", type=float, help="the viewer's --cache-mb (default: its own)")
    p.add_argument(
        "--drop-caches", action="store_true", help="empty the OS page cache before each start"
    )
    args = p.parse_args()
    cold, warm, rss = [], [], []
    budget = ["--cache-mb", str(args.cache_mb)] if args.cache_mb else []
    for start in range(args.api_starts):
        if args.drop_caches:
            drop_page_cache()
        v = Viewer(args.dir / "big", *budget)
        try:
            handles, start_cold, start_warm = bench_api(v, quiet=start > 0)
            rss.append(v.rss_mb())
        finally:
            v.stop()
        cold += start_cold
        warm += start_warm
    print(
        f"scalars API per tag ({len(handles)} runs, {args.api_starts} server starts"
        f"{', page cache emptied before each' if args.drop_caches else ''}): "
        f"cold median {med(cold):.0f} ms (max {max(cold):.0f}), warm median {med(warm):.0f} ms"
    )
    print(
        f"viewer memory after every tag of every run: RSS {med(rss):.0f} MB "
        f"(series memory budget {args.cache_mb or DEFAULT_CACHE_MB:g} MB)"
    )

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        v = Viewer(args.dir / "big")
        try:
            url = f"{v.url}/#tab=scalars&runs={','.join(map(str, handles))}"
            marks = page_times(
                browser, url, "document.body.dataset.allChartsAt !== undefined", args.repeat
            )
            first = [float(m["firstChartAt"]) for m in marks]
            full = [float(m["allChartsAt"]) for m in marks]
            print(
                f"scalars tab, {len(handles)} runs selected: first chart {med(first):.0f} ms, all {marks[0]['chartsExpected']} charts {med(full):.0f} ms (median of {args.repeat})"
            )
        finally:
            v.stop()

        v = Viewer(args.dir / "many")
        try:
            count = len(json.loads(get(v.url + "/api/runs"))["runs"])
            marks = page_times(
                browser, v.url + "/", "document.body.dataset.tableAt !== undefined", args.repeat
            )
            table = [float(m["tableAt"]) for m in marks]
            print(
                f"runs table, {count} runs: rendered in {med(table):.0f} ms (median of {args.repeat})"
            )
            f50, f95, n = scroll_frames(browser, v.url + "/")
            print(
                f"runs table scroll: {n} frames, frame time median {f50:.1f} ms, p95 {f95:.1f} ms"
            )
        finally:
            v.stop()

        if not args.no_tensorboard:
            tb = tensorboard(
                args.dir / "tb", browser, args.repeat, len(handles), args.points, args.tb_limit
            )
            if tb:
                print(
                    f"TensorBoard, same scalars: first chart {med(tb):.0f} ms (median of {args.repeat})"
                )
                print(
                    f"ratio TensorBoard / labtrack, first chart drawn: {med(tb) / med(first):.1f}x"
                )
        browser.close()


if __name__ == "__main__":
    main()
