"""Runs written through a store's ingest actor, on one node (``dir="ray://<name>"`` forces the
remote path even where the store is local), with the actor and the writer killed mid-run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labtrack
from labtrack.cluster import ingest_actor
from labtrack.store import open_run

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    root = tmp_path_factory.mktemp("served") / "store"
    assert labtrack.serve_store(root, name="remote-writer-tests") == "ray://remote-writer-tests"
    yield root
    ray.shutdown()


@ray.remote(num_cpus=0)
def train(steps: int, name: str, pause: float = 0.0) -> dict[str, Any]:
    """A training task that records through the store's node."""
    run = labtrack.start_run("exp", name=name, dir="ray://remote-writer-tests", config={"lr": 0.1})
    for step in range(steps):
        run.log({"loss": 1.0 / (step + 1), "acc": step / steps}, step=step)
        if pause:
            time.sleep(pause)
    run.log_text("notes", "converged")
    run.log_image("frame", np.full((16, 16, 3), 200, dtype=np.uint8), step=0)
    model = Path(run.dir) / "model.bin"
    model.write_bytes(os.urandom(9 * 1024 * 1024))  # two chunks on the way
    run.log_artifact(model, kind="model")
    kind = type(run._output).__name__
    run.finish()
    return {"dir": str(run.dir), "output": kind, "model": model.read_bytes()}


def test_a_remote_run_lands_complete_and_exact(store: Path) -> None:
    done = ray.get(train.remote(20_000, "whole"), timeout=300)

    assert done["output"] == "RemoteOutput"
    run = open_run(done["dir"])
    assert Path(done["dir"]).parent == store / "exp"
    assert run.status == "completed"
    assert run.config == {"lr": 0.1}
    loss = run.scalars("loss")
    assert list(loss.steps) == list(range(20_000))
    assert np.allclose(loss.values, 1.0 / (np.arange(20_000) + 1))
    assert [t.text for t in run.text("notes")] == ["converged"]
    (image,) = run.images("frame")
    assert image.path.stat().st_size > 0
    (artifact,) = run.artifacts()
    assert artifact.path.read_bytes() == done["model"]
    assert not list(Path(done["dir"], ".labtrack").glob("ingest.*"))  # released


def test_an_unknown_store_name_is_refused_naming_it(store: Path) -> None:
    with pytest.raises(ValueError, match="no store named 'nowhere'"):
        labtrack.start_run("exp", dir="ray://nowhere")


def test_killing_the_ingest_actor_mid_run_loses_and_duplicates_nothing(store: Path) -> None:
    ingest = ingest_actor("ray://remote-writer-tests")
    before = ray.get(ingest.where.remote(), timeout=120)["pid"]
    task = train.remote(3_000, "actor-killed", pause=0.002)
    time.sleep(3)  # the task is logging by now (start-up included)
    ray.kill(ingest, no_restart=False)
    done = ray.get(task, timeout=300)

    after = ray.get(ingest.where.remote(), timeout=120)["pid"]
    assert after != before  # it did restart
    run = open_run(done["dir"])
    assert run.status == "completed"
    for tag in ("loss", "acc"):
        assert list(run.scalars(tag).steps) == list(range(3_000)), tag


@ray.remote(num_cpus=0)
class Trainer:
    def start(self, name: str) -> str:
        self.run = labtrack.start_run("exp", name=name, dir="ray://remote-writer-tests")
        self.step = 0
        return str(self.run.dir)

    def pid(self) -> int:
        return os.getpid()

    def train(self, seconds: float) -> int:
        end = time.time() + seconds
        while time.time() < end:
            self.run.log({"loss": float(self.step)}, step=self.step)
            self.step += 1
            time.sleep(0.001)
        return self.step


def test_a_killed_remote_writer_reads_crashed_with_what_was_acknowledged(store: Path) -> None:
    trainer = Trainer.remote()
    run_dir = ray.get(trainer.start.remote("writer-killed"), timeout=120)
    pid = ray.get(trainer.pid.remote(), timeout=120)
    logged = ray.get(trainer.train.remote(2.0), timeout=120)
    trainer.train.remote(60.0)
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)

    deadline = time.monotonic() + 60
    while open_run(run_dir).status != "crashed" and time.monotonic() < deadline:
        time.sleep(0.2)
    run = open_run(run_dir)
    assert run.status == "crashed"
    steps = list(run.scalars("loss").steps)
    assert steps == list(range(len(steps)))  # contiguous, no duplicates
    assert len(steps) >= logged  # everything logged by a call that returned 1 s before the kill


@ray.remote(num_cpus=0)
def train_into_the_default_store(steps: int) -> str:
    os.environ["LABTRACK_DIR"] = "ray://remote-writer-tests"
    with labtrack.start_run("exp", name="by-env") as run:
        for step in range(steps):
            run.log_metric("loss", 1.0 / (step + 1), step)
        kind = type(run._output).__name__
    return f"{kind} {run.dir}"


def test_labtrack_dir_may_name_a_served_store(store: Path) -> None:
    kind, run_dir = ray.get(train_into_the_default_store.remote(500), timeout=300).split()
    assert kind == "RemoteOutput" and Path(run_dir).parent == store / "exp"
    assert list(open_run(run_dir).scalars("loss").steps) == list(range(500))


@ray.remote(num_cpus=0)
def save_a_checkpoint() -> str:
    with labtrack.start_run("exp", name="files", dir="ray://remote-writer-tests") as run:
        checkpoint = Path(run.dir, "checkpoints", "step_1.pt")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_bytes(b"weights")
        run.save_file(checkpoint)
        with pytest.raises(ValueError, match="inside"):
            run.save_file("/etc/hostname")
    return str(run.dir)


def test_files_saved_by_other_code_travel_with_the_run(store: Path) -> None:
    run_dir = Path(ray.get(save_a_checkpoint.remote(), timeout=300))
    assert (run_dir / "checkpoints" / "step_1.pt").read_bytes() == b"weights"
