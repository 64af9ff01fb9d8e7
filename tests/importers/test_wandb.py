"""Import real W&B offline runs (written by ``wandb`` itself in a subprocess, no network).

W&B ships no Python reader of its run files any more, so the source is what the training script
logged: every value and step it passed, and wall times between the clock readings it took around
each ``wandb.log`` call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("wandb")

import labtrack
from labtrack import importers
from labtrack.store import open_run
from tests.conftest import run_python

TRAIN = """
import json, sys, time
import numpy as np
import wandb

steps = range({start}, {end})
run = wandb.init(project="vision", name="resnet", id="{run_id}", resume="allow", dir=".",
                 mode="offline", config={{"lr": 0.01, "model": {{"width": 64}}}}, tags=["base"])
clock = []
for step in steps:
    before = time.time()
    wandb.log({{"train/loss": 1 / (step + 1), "acc": step / 100, "phase": "warm"}}, step=step)
    if step % 20 == 0:  # the same step again: W&B's wall time is that of its last call
        wandb.log({{"sample": wandb.Image(np.full((4, 4, 3), step, np.uint8)),
                    "weights": wandb.Histogram(np.arange(10))}}, step=step)
    clock.append((step, before, time.time()))
run.summary["best_acc"] = 0.99
run.finish({exit_code})
json.dump(clock, open("clock-{run_id}-{start}.json", "w"))
"""


@pytest.fixture(autouse=True)
def _offline(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B without network or a user's settings: offline, quiet, its files in the workdir."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(workdir))


def train(
    workdir: Path, run_id: str, end: int, start: int = 0, exit_code: int = 0
) -> list[tuple[int, float, float]]:
    """Train with wandb in a fresh process; the clock readings around each ``wandb.log``."""
    code = TRAIN.format(start=start, end=end, run_id=run_id, exit_code=exit_code)
    done = run_python(code, workdir, timeout=120)
    assert done.returncode == 0, done.stderr
    return [tuple(c) for c in json.loads((workdir / f"clock-{run_id}-{start}.json").read_text())]


def test_history_config_summary_and_media_of_offline_runs_arrive(workdir: Path) -> None:
    clock = train(workdir, "run1", end=100)
    train(workdir, "run2", end=10, exit_code=1)

    report = importers.wandb(workdir / "wandb", into="out")

    assert report.failed == []
    assert len(report.created) == 2
    assert report.skipped["histograms"] == 5 + 1
    (view,) = labtrack.Store("out").runs(experiment="vision", status="completed")
    assert view.name == "resnet"
    assert view.config == {"lr": 0.01, "model": {"width": 64}}
    assert view.summary["best_acc"] == 0.99
    assert "base" in view.tags and view.tags["wandb.run_id"] == "run1"
    steps, values, walls = view.scalars("train/loss")
    assert steps.tolist() == [c[0] for c in clock]
    assert values.tolist() == [1 / (s + 1) for s, _, _ in clock]
    assert all(before <= wall <= after for wall, (_, before, after) in zip(walls, clock))
    assert view.scalars("acc").values.tolist() == [s / 100 for s, _, _ in clock]
    assert [t.text for t in view.text("phase")][:2] == ["warm", "warm"]
    assert [i.step for i in view.images("sample")] == list(range(0, 100, 20))
    from PIL import Image

    with Image.open(view.images("sample")[1].path) as image:
        assert image.getpixel((0, 0)) == (20, 20, 20)
    (failed,) = labtrack.Store("out").runs(experiment="vision", status="failed")
    assert failed.tags["wandb.exit"] == "1"


def test_importing_again_creates_nothing_and_a_resumed_run_gets_only_new_points(
    workdir: Path,
) -> None:
    train(workdir, "live", end=30)
    (first,) = importers.wandb(workdir / "wandb", into="out").created
    again = importers.wandb(workdir / "wandb", into="out")
    assert [r.outcome for r in again.runs] == ["unchanged"]
    assert open_run(first.run_dir).meta["resumed"] == []

    clock = train(workdir, "live", start=30, end=50)  # resumed: a second offline-run folder
    assert len(list((workdir / "wandb").glob("offline-run-*-live"))) == 2
    grown = importers.wandb(workdir / "wandb", into="out")

    assert [r.outcome for r in grown.runs] == ["updated"]
    assert grown.points == 2 * 20
    assert len(list((workdir / "out" / "vision").iterdir())) == 1
    steps, _, walls = open_run(first.run_dir).scalars("train/loss")
    assert steps.tolist() == list(range(50))
    assert all(b <= w <= a for w, (_, b, a) in zip(walls[30:], clock))


def test_a_corrupt_run_file_is_named_and_the_other_runs_still_import(workdir: Path) -> None:
    train(workdir, "good", end=5)
    train(workdir, "bad", end=5)
    (bad,) = (workdir / "wandb").rglob("run-bad.wandb")
    data = bytearray(bad.read_bytes())
    data[200] ^= 0xFF
    bad.write_bytes(bytes(data))

    report = importers.wandb(workdir / "wandb", into="out")

    (failed,) = report.failed
    assert str(bad) in str(failed.error) and "CRC mismatch" in str(failed.error)
    assert [r.name for r in report.created] == ["resnet"]
