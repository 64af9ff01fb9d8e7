"""One contract, every backend: the same calls give the same answers from labtrack's store,
Aim (read back through ``aim.Repo``), MLflow (read back through ``MlflowClient``) and the
document's toy in-memory backend."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from labtrack.tracking import (
    ArtifactType,
    ExperimentNotFoundError,
    ExperimentRepository,
    ExperimentStatus,
    MLTracker,
    TrainingMetrics,
    create_backend,
)

from ._toy import ToyBackend

BACKENDS = ["labtrack", "aim", "mlflow", "toy"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(name)
    if name == "aim":
        pytest.importorskip("aim")
        made = create_backend("aim", repo_path=root / "aim")
    elif name == "mlflow":
        pytest.importorskip("mlflow")
        made = create_backend("mlflow", tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    elif name == "labtrack":
        made = create_backend("labtrack", storage_path=root / "store")
    else:
        made = ToyBackend()
    yield made
    asyncio.run(made.close())


def _experiment() -> str:
    return f"exp-{uuid.uuid4().hex[:8]}"  # each test has its own experiment in the shared backend


def _local(file_path: str) -> Path:
    return Path(unquote(urlparse(file_path).path)) if "://" in file_path else Path(file_path)


def test_a_run_reads_back_as_it_was_logged(backend) -> None:
    async def main():
        tracker, repo = MLTracker(backend), ExperimentRepository(backend)
        name = _experiment()
        config = {"agent_type": "PPO", "learning_rate": 0.0003, "net": {"layers": [64, 64]}}
        run = await tracker.create_run(name, config)
        await tracker.log_metrics(run, TrainingMetrics(step=0, loss=1.0, reward=10.0))
        await tracker.log_metrics(run, TrainingMetrics(step=5, loss=0.5, reward=20.0, win_rate=0.6))
        await tracker.log_metric(run, "reward", 30.0)  # no step: the metric's last step + 1
        await tracker.log_params(run, {"gamma": 0.99, "policy": "MlpPolicy"})
        await tracker.finish_run(run, final_metrics={"sharpe_ratio": 1.4})

        got = await repo.get_experiment(run.run_id)
        points = await repo.get_experiment_metrics(run.run_id)
        return run, got, points

    run, got, points = asyncio.run(main())
    assert got.experiment_id == run.run_id
    assert got.status == ExperimentStatus.COMPLETED
    assert got.config == {"agent_type": "PPO", "learning_rate": 0.0003, "net": {"layers": [64, 64]}}
    assert got.params == {"gamma": 0.99, "policy": "MlpPolicy"}
    # the last value of every metric, plus the final metrics given to finish_run
    assert got.final_metrics == {"loss": 0.5, "reward": 30.0, "win_rate": 0.6, "sharpe_ratio": 1.4}
    assert [(p.name, p.step, p.value) for p in points] == [
        ("loss", 0, 1.0),
        ("loss", 5, 0.5),
        ("reward", 0, 10.0),
        ("reward", 5, 20.0),
        ("reward", 6, 30.0),
        ("win_rate", 5, 0.6),
    ]
    assert all(p.wall_time > 1e9 for p in points)
    assert got.duration is not None and got.duration.total_seconds() >= 0
    assert got.end_time is not None and got.end_time >= got.start_time


def test_listing_is_newest_first_and_filters_by_status(backend) -> None:
    async def main():
        tracker, repo = MLTracker(backend), ExperimentRepository(backend)
        name = _experiment()
        ids = []
        for status in ("completed", "failed", "cancelled", "completed"):
            run = await tracker.create_run(name, {"status_was": status})
            await tracker.log_metric(run, "reward", float(len(ids)), step=0)
            await tracker.finish_run(run, status=status)
            ids.append(run.run_id)
            await asyncio.sleep(0.01)  # distinct start times
        everything = await repo.list_experiments(experiment_name=name)
        completed = await repo.list_experiments(
            status=ExperimentStatus.COMPLETED, experiment_name=name
        )
        cancelled = await repo.list_experiments(status="cancelled", experiment_name=name)
        best = await repo.best_experiment("reward", status="completed")
        table = await repo.compare_experiments(
            ids, metrics=["reward"], config_keys=["status_was"], sort_by="reward", mode="min"
        )
        return ids, everything, completed, cancelled, best, table

    ids, everything, completed, cancelled, best, table = asyncio.run(main())
    assert [e.experiment_id for e in everything] == ids[::-1]
    assert [e.experiment_id for e in completed] == [ids[3], ids[0]]
    assert [e.status for e in cancelled] == [ExperimentStatus.CANCELLED]
    assert best is not None and best.final_metrics["reward"] >= 3.0
    assert [(row["experiment_id"], row["reward"], row["config.status_was"]) for row in table] == [
        (ids[0], 0.0, "completed"),
        (ids[1], 1.0, "failed"),
        (ids[2], 2.0, "cancelled"),
        (ids[3], 3.0, "completed"),
    ]


def test_artifacts_are_stored_with_type_and_metadata(backend, tmp_path: Path) -> None:
    model = tmp_path / "best_model.zip"
    model.write_bytes(b"weights")

    async def main():
        tracker, repo = MLTracker(backend), ExperimentRepository(backend)
        run = await tracker.create_run(_experiment(), {})
        stored = await tracker.log_artifact(
            run, model, ArtifactType.MODEL, metadata={"validation_score": 0.95}
        )
        await tracker.finish_run(run)
        return stored, await repo.get_experiment(run.run_id)

    stored, got = asyncio.run(main())
    assert [(a.name, a.artifact_type, a.metadata) for a in got.artifacts] == [
        ("best_model.zip", ArtifactType.MODEL, {"validation_score": 0.95})
    ]
    assert got.artifacts[0].file_path == stored.file_path
    if backend.name != "toy":  # the toy backend keeps the path it was given
        assert _local(stored.file_path) != model
    assert _local(stored.file_path).read_bytes() == b"weights"


def test_runs_are_found_by_unique_run_name_and_bad_ids_are_named(backend) -> None:
    run_name = f"exp_{uuid.uuid4().hex[:6]}"

    async def main():
        tracker, repo = MLTracker(backend), ExperimentRepository(backend)
        run = await tracker.create_run(_experiment(), {"x": 1}, run_name=run_name)
        await tracker.finish_run(run)
        by_name = await repo.get_experiment(run_name)
        with pytest.raises(ExperimentNotFoundError, match="no-such-run"):
            await repo.get_experiment("no-such-run")
        with pytest.raises(ExperimentNotFoundError, match="no-such-run"):
            await repo.get_experiment_metrics("no-such-run")
        return run, by_name

    run, by_name = asyncio.run(main())
    assert by_name.experiment_id == run.run_id
    assert by_name.run_name == run_name


def test_finish_run_refuses_a_status_that_is_not_final(backend) -> None:
    async def main():
        tracker = MLTracker(backend)
        run = await tracker.create_run(_experiment(), {})
        with pytest.raises(ValueError, match="final status"):
            await tracker.finish_run(run, status=ExperimentStatus.RUNNING)
        await tracker.finish_run(run, status=ExperimentStatus.PAUSED)
        return (await ExperimentRepository(backend).get_experiment(run.run_id)).status

    assert asyncio.run(main()) == ExperimentStatus.PAUSED


def test_health_of_a_working_backend(backend) -> None:
    health = asyncio.run(backend.health())
    assert health.is_healthy, health.issues
    assert health.to_dict()["is_healthy"] is True
    assert health.backend == backend.name
