"""Fixtures for the viewer tests: a small real store, and a real viewer server on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import labtrack

XSS = "<img src=x onerror=alert(1)>"
CHROMIUM = "/usr/bin/chromium"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def make_store(root: Path) -> dict[str, Path]:
    """Runs of every kind the viewer shows; returns their directories by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    dirs: dict[str, Path] = {}
    for i, lr in enumerate([0.1, 0.01]):
        with labtrack.start_run(
            "mnist",
            name=f"lr{lr}",
            config={"lr": lr, "model": {"depth": 2 + i, "act": "relu"}, "seed": 0},
            dir=root,
        ) as run:
            steps = np.arange(5000)
            for s in range(0, 5000, 500):
                chunk = steps[s : s + 500]
                for step in chunk:
                    run.log(
                        {
                            "train/loss": float(np.exp(-step / 1000) / (i + 1) + 0.01),
                            "eval/acc": float(1 - np.exp(-step / 800)),
                        },
                        step=int(step),
                    )
            run.log_metric("train/spike", 1.0, step=0)
            run.log_metric("train/spike", 1000.0, step=1)
            run.log_metric("train/spike", 1.0, step=2)
            for step in (0, 10, 20):
                run.log_text("samples", f"step {step}: <b>{XSS}</b> output {lr}", step=step)
            fig, ax = plt.subplots()
            ax.plot([0, 1, 2], [0, 1, 4 + i], label="curve")
            ax.set_title("curve")
            run.log_figure("curve", fig, step=0)
            plt.close(fig)
            fig3 = plt.figure()
            ax3 = fig3.add_subplot(projection="3d")
            gx, gy = np.meshgrid(np.linspace(-1, 1, 10), np.linspace(-1, 1, 10))
            ax3.plot_surface(gx, gy, gx**2 + gy**2)
            run.log_figure("landscape", fig3, step=0)
            plt.close(fig3)
            fig_static, ax_s = plt.subplots()
            ax_s.bar([1, 2], [3, 4])
            run.log_figure("bars", fig_static, step=0, interactive=False)
            plt.close(fig_static)
            run.log_figure("plotly", go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1])), step=0)
            for step in (0, 1, 2):
                img = np.zeros((16, 16, 3), dtype=np.uint8)
                img[:, :, step] = 255
                run.log_image("frames", img, step=step)
            from PIL import Image

            frames = [Image.new("RGB", (16, 16), c) for c in ("red", "green", "blue")]
            gif = root / f"episode{i}.gif"
            frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
            run.log_image("episode", gif, step=0)
            model = root / f"model{i}.bin"
            model.write_bytes(b"weights" * 10)
            run.log_artifact(model, kind="model")
            run.summary["best_acc"] = 0.9 + i * 0.05
            run.summary["final_loss"] = 0.2 - i * 0.05
            dirs[f"lr{lr}"] = run.dir
    with labtrack.start_run("mnist", name=XSS, config={"lr": 0.5, "note": XSS}, dir=root) as run:
        run.log({XSS: 1.0}, step=0)
        run.log({XSS: 2.0}, step=1)
        dirs["xss"] = run.dir
    broken = root / "mnist" / "broken-run" / ".labtrack"
    broken.mkdir(parents=True)
    (broken / "meta.json").write_text("{ not json")
    dirs["broken"] = broken.parent
    (root / "secret.txt").write_text("inside")
    return dirs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real viewer process (``python -m labtrack.viewer``) on a free port."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labtrack.viewer", str(root), "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )
        assert self.proc.stdout is not None
        self.preamble = ""
        self.banner = ""
        for line in self.proc.stdout:  # the address is printed once the socket listens
            if line.startswith("labtrack viewer on"):
                self.banner = line
                break
            self.preamble += line
        if not self.banner:
            self.stop()
            raise RuntimeError(f"viewer did not start: {self.preamble}")

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="session")
def server_cls() -> type[Server]:
    """Start more servers in a test: ``srv = server_cls(root, "--token", "t")``."""
    return Server


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    make_store(root)
    return root


@pytest.fixture(scope="session")
def store_runs(store_dir: Path) -> dict[str, Path]:
    return {v.name: v.dir for v in labtrack.Store(store_dir).runs()}


@pytest.fixture(scope="session")
def server(store_dir: Path) -> Iterator[Server]:
    srv = Server(store_dir)
    yield srv
    srv.stop()


def browser_available() -> bool:
    return os.path.exists(CHROMIUM) and shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not browser_available():
        if os.environ.get("LABTRACK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LABTRACK_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


SHOTS = Path(__file__).resolve().parents[1] / "_screenshots"


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    """A browser page that fails the test on any dialog (a script run from logged data) or any
    uncaught page error."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.dialogs = []
    pg.errors = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg
    ctx.close()
    assert pg.dialogs == [], "a script ran from logged data"
    assert pg.errors == []


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
