"""Configuration, health, the sync API and the event loop."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

import labtrack
from labtrack.errors import ConfigError
from labtrack.tracking import (
    ExperimentRepository,
    MLTracker,
    configure_backend,
    configure_mlflow_backend,
    get_ml_tracker,
    health_check,
)
from labtrack.tracking._labtrack import LabtrackBackend
from labtrack.tracking.factory import current_backend

from ..conftest import run_python


def test_default_is_the_labtrack_store_and_needs_no_configuration(workdir: Path) -> None:
    tracker = asyncio.run(get_ml_tracker())
    assert tracker.backend.name == "labtrack"
    assert tracker.backend.storage_path == Path("out")


def test_ml_storage_path_is_the_store(workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ML_STORAGE_PATH", str(workdir / "elsewhere"))
    monkeypatch.setenv("ML_EXPERIMENT_NAME", "from-env")
    from labtrack.tracking.sync import get_ml_tracker as sync_tracker

    tracker = sync_tracker()
    run = tracker.create_run(config={"a": 1})
    tracker.finish_run(run)
    (view,) = labtrack.Store(workdir / "elsewhere").runs()
    assert view.experiment == "from-env"


def test_unknown_backend_lists_the_valid_ones(workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ML_TRACKING_BACKEND", "wandb")
    with pytest.raises(ConfigError, match="'wandb'.*valid: aim, labtrack, mlflow"):
        asyncio.run(get_ml_tracker())
    health = asyncio.run(health_check())
    assert not health.is_healthy
    assert "unknown tracking backend 'wandb'" in health.issues[0]
    with pytest.raises(ConfigError, match="valid: aim, labtrack, mlflow"):
        configure_backend("wandb")


def test_mlflow_selected_by_environment(workdir: Path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("ML_TRACKING_BACKEND", "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'm' / 'mlflow.db'}")
    backend = current_backend()
    assert backend.name == "mlflow"
    assert asyncio.run(health_check()).is_healthy
    from mlflow.tracking import MlflowClient

    tracker = labtrack.tracking.get_ml_tracker_sync()
    run = tracker.create_run("envexp", {"lr": 0.5})
    tracker.log_metric(run, "loss", 0.25, step=3)
    tracker.finish_run(run)
    got = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"]).get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"loss": 0.25}
    assert got.data.params == {"lr": "0.5"}


def test_health_reports_an_unreachable_mlflow(workdir: Path) -> None:
    pytest.importorskip("mlflow")
    configure_mlflow_backend("http://127.0.0.1:9/")  # the discard port: nothing answers
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        health = asyncio.run(health_check())
    finally:
        del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert not health.is_healthy
    assert "MLflow at http://127.0.0.1:9/ is unreachable" in health.issues[0]


def test_health_reports_a_store_that_cannot_be_written(workdir: Path) -> None:
    blocker = workdir / "file"
    blocker.write_text("not a folder")
    configure_backend("labtrack", storage_path=blocker / "store")
    health = asyncio.run(health_check())
    assert not health.is_healthy
    assert "the labtrack store" in health.issues[0] and "not writable" in health.issues[0]
    assert health.to_dict()["is_healthy"] is False


def test_health_reports_a_missing_aim(workdir: Path) -> None:
    # a fresh interpreter where importing aim fails, as on a Python without Aim wheels
    done = run_python(
        """
        import sys, asyncio
        sys.modules["aim"] = None
        from labtrack.tracking import configure_aim_backend, health_check
        configure_aim_backend("repo")
        print(asyncio.run(health_check()).issues)
        """,
        workdir,
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "labtrack[aim]"' in done.stdout


def test_health_reports_a_corrupt_aim_repository(workdir: Path) -> None:
    pytest.importorskip("aim")
    configure_backend("aim", repo_path=workdir / "aim")
    tracker = labtrack.tracking.get_ml_tracker_sync()
    run = tracker.create_run("x", {})
    tracker.finish_run(run)
    for chunk in (workdir / "aim" / ".aim" / "meta" / "chunks").iterdir():
        for f in chunk.iterdir():
            if f.name.startswith(("MANIFEST", "CURRENT")):
                f.write_bytes(b"garbage")
    labtrack.tracking.reset_configuration()
    configure_backend("aim", repo_path=workdir / "aim")
    health = asyncio.run(health_check())
    assert not health.is_healthy, health


class _SlowStore(LabtrackBackend):
    """The labtrack backend over a disk that takes 200 ms per write."""

    def log_metrics_sync(self, run, metrics, *, step, context=None) -> None:
        time.sleep(0.2)
        super().log_metrics_sync(run, metrics, step=step, context=context)


def test_async_calls_never_block_the_event_loop(workdir: Path) -> None:
    async def main():
        tracker = MLTracker(_SlowStore(workdir / "store"))
        run = await tracker.create_run("slow", {})
        ticks: list[float] = []

        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        await asyncio.gather(*(tracker.log_metric(run, "x", float(i), step=i) for i in range(3)))
        took = time.perf_counter() - started
        task.cancel()
        await tracker.finish_run(run)
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        points = await ExperimentRepository(tracker.backend).get_experiment_metrics(run.run_id)
        return took, gaps, points

    took, gaps, points = asyncio.run(main())
    assert took >= 0.6  # the three writes ran one after another, in a worker thread
    assert len(gaps) > 30 and max(gaps) < 0.1  # the loop kept ticking every 10 ms meanwhile
    assert [(p.step, p.value) for p in points] == [(0, 0.0), (1, 1.0), (2, 2.0)]


def test_sync_api_over_a_purely_async_backend(workdir: Path) -> None:
    from labtrack.tracking import SyncExperimentRepository, SyncMLTracker

    from ._toy import ToyBackend

    toy = ToyBackend()
    tracker, repo = SyncMLTracker(toy), SyncExperimentRepository(toy)
    run = tracker.create_run("toy", {"a": 1})
    for step in range(3):
        tracker.log_metric(run, "loss", 1.0 / (step + 1))
    tracker.finish_run(run)
    assert [p.step for p in repo.get_experiment_metrics(run.run_id)] == [0, 1, 2]
    assert repo.best_experiment("loss", mode="min").experiment_id == run.run_id


def test_training_metrics_accept_extra_numbers_only() -> None:
    from pydantic import ValidationError

    from labtrack.tracking import TrainingMetrics

    metrics = TrainingMetrics(step=1, reward=2.0, sharpe_ratio=1.4, trades_count=3)
    assert metrics.values() == {"reward": 2.0, "sharpe_ratio": 1.4, "trades_count": 3.0}
    with pytest.raises(ValidationError, match="win_rate"):
        TrainingMetrics(step=1, win_rate="high")
    with pytest.raises(ValidationError, match="step"):
        TrainingMetrics(step=-1)


def test_import_labtrack_stays_light() -> None:
    done = run_python(
        "import sys, labtrack; print(sorted(m for m in ('aim', 'mlflow', 'stable_baselines3', 'labtrack.tracking') if m in sys.modules))",
        Path.cwd(),
    )
    assert done.stdout.strip() == "[]"


def test_health_reports_an_aim_index_locked_by_another_process(workdir: Path) -> None:
    pytest.importorskip("aim")
    from ..conftest import start_python

    configure_backend("aim", repo_path=workdir / "aim")
    tracker = labtrack.tracking.get_ml_tracker_sync()
    first = tracker.create_run("x", {})
    tracker.finish_run(first)
    # another process holds the index, as a running `aim up` does while it indexes
    holder = start_python(
        f"""
        import sys, time, aim
        repo = aim.Repo({str(workdir / "aim")!r})
        index = repo._get_index_container("meta", timeout=0)
        index.db  # opened for writing: RocksDB's lock is held while ``index`` lives
        print("locked", flush=True)
        time.sleep(60)
        """,
        workdir,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = tracker.create_run("x", {})  # a run the index does not have yet
        tracker.finish_run(second)
        health = asyncio.run(health_check())
        assert not health.is_healthy
        assert "could not be indexed" in health.issues[0] and "locked" in health.issues[0]
    finally:
        holder.kill()
        holder.wait()
    assert asyncio.run(health_check()).is_healthy  # the lock is gone: indexed and healthy
