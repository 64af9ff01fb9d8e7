"""The default backend: runs in labtrack's embedded store (so ``labtrack ui``, ``Store`` and
the CLI see them), through the public API only (``start_run`` to write, ``Store`` to read).

Statuses: the store has ``completed``, ``failed`` and ``killed`` as final statuses; a run
finished ``cancelled`` or ``paused`` is stored ``killed`` with the tracking status in the tag
``tracking.status``, read back from there. A run whose process died is ``failed``. Final
metrics go into the run's summary, which is the last value of every metric otherwise. The
``context`` of a metric is not stored (the store has no such notion).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._env import default_store_dir
from .._run import Run, start_run
from ..errors import StoreError
from ..store import RunView, Store
from ._backend import BlockingBackend, ExperimentNotFoundError, writable_issue
from ._models import (
    ArtifactType,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    HealthStatus,
    MetricPoint,
    ModelArtifact,
)

_STATUS_TAG = "tracking.status"
_TO_STORE = {
    ExperimentStatus.COMPLETED: "completed",
    ExperimentStatus.FAILED: "failed",
    ExperimentStatus.CANCELLED: "killed",
    ExperimentStatus.PAUSED: "killed",
}
_FROM_STORE = {
    "running": ExperimentStatus.RUNNING,
    "completed": ExperimentStatus.COMPLETED,
    "failed": ExperimentStatus.FAILED,
    "killed": ExperimentStatus.CANCELLED,
    "crashed": ExperimentStatus.FAILED,
}
_KIND = {
    ArtifactType.MODEL: "model",
    ArtifactType.CHECKPOINT: "checkpoint",
    ArtifactType.DATA: "data",
    ArtifactType.PLOT: "figure",
}


def _time(seconds: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds or 0.0, tz=dt.timezone.utc)


class LabtrackBackend(BlockingBackend):
    """Runs in the store at ``storage_path`` (default ``$LABTRACK_DIR`` or ``./out``)."""

    name = "labtrack"

    def __init__(self, storage_path: str | Path | None = None) -> None:
        super().__init__()
        self.storage_path = Path(storage_path) if storage_path else default_store_dir()
        self._runs: dict[str, Run] = {}

    def _run_of(self, run: ExperimentRun) -> Run:
        found = self._runs.get(run.run_id)
        if found is None:
            raise StoreError(f"run {run.run_id} was not created by this tracker or is finished")
        return found

    def create_run_sync(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun:
        # The folder is a slug: experiment names may hold "/" ("PPO EUR/USD Training").
        folder = f"{_slug(run_name)}-{uuid.uuid4().hex[:8]}" if run_name else uuid.uuid4().hex[:8]
        run_dir = self.storage_path / _slug(experiment_name) / folder
        run = start_run(experiment_name, name=run_name, config=config, run_dir=run_dir)
        self._runs[run.id] = run
        return ExperimentRun(
            run_id=run.id,
            experiment_name=experiment_name,
            backend=self.name,
            start_time=_time(time.time()),
        )

    def log_metrics_sync(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self._run_of(run).log(metrics, step=step)

    def log_params_sync(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        self._run_of(run).log_params(params)

    def log_artifact_sync(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact:
        metadata = {**artifact.metadata, "artifact_type": artifact.artifact_type.value}
        copy = self._run_of(run).log_artifact(
            artifact.file_path,
            name=artifact.name,
            kind=_KIND.get(artifact.artifact_type, "other"),  # type: ignore[arg-type]
            metadata=metadata,
        )
        return artifact.model_copy(update={"file_path": str(copy)})

    def finish_run_sync(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None:
        writer = self._run_of(run)
        for key, value in final_metrics.items():
            writer.summary[key] = value
        writer.set_tags({_STATUS_TAG: status.value})
        writer.finish(_TO_STORE[status])
        self._runs.pop(run.run_id, None)

    # ------------------------------------------------------------------ reading

    def _summary(self, view: RunView) -> ExperimentSummary:
        stored = view.status
        status = _FROM_STORE.get(stored, ExperimentStatus.FAILED)
        tagged = view.tags.get(_STATUS_TAG)
        if tagged and stored not in ("running", "crashed"):
            status = ExperimentStatus(tagged)
        finals = {
            k: float(v)
            for k, v in view.summary.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        artifacts = [
            ModelArtifact(
                name=a.name,
                artifact_type=ArtifactType(a.metadata.get("artifact_type", _kind_type(a.kind))),
                file_path=str(a.path),
                metadata={k: v for k, v in a.metadata.items() if k != "artifact_type"},
            )
            for a in view.artifacts()
        ]
        duration = view.duration
        return ExperimentSummary(
            experiment_id=view.id,
            name=view.experiment,
            run_name=view.name,
            status=status,
            start_time=_time(view.start_time),
            end_time=_time(view.end_time) if view.end_time else None,
            duration=dt.timedelta(seconds=duration) if duration is not None else None,
            final_metrics=finals,
            config=view.config,
            params=view.params,
            artifacts=artifacts,
            backend=self.name,
        )

    def _store(self) -> Store:
        return Store(self.storage_path)

    def list_experiments_sync(self) -> list[ExperimentSummary]:
        if not self.storage_path.exists():
            return []
        for writer in self._runs.values():
            writer.flush()
        return [self._summary(v) for v in self._store().runs() if not v.unreadable]

    def _view(self, experiment_id: str) -> RunView:
        if experiment_id in self._runs:
            self._runs[experiment_id].flush()
        if self.storage_path.exists():
            store = self._store()
            try:
                return store.run(experiment_id)
            except StoreError:
                named = store.runs(name=experiment_id)
                if len(named) == 1:
                    return named[0]
        raise ExperimentNotFoundError(experiment_id, self.name)

    def get_experiment_sync(self, experiment_id: str) -> ExperimentSummary:
        return self._summary(self._view(experiment_id))

    def get_experiment_metrics_sync(self, experiment_id: str) -> list[MetricPoint]:
        view = self._view(experiment_id)
        points: list[MetricPoint] = []
        for tag in sorted(view.scalar_tags):
            series = view.scalars(tag)
            order = sorted(range(len(series.steps)), key=lambda i: int(series.steps[i]))
            points.extend(
                MetricPoint(
                    name=tag,
                    step=int(series.steps[i]),
                    value=float(series.values[i]),
                    wall_time=float(series.wall_times[i]),
                )
                for i in order
            )
        return points

    def health_sync(self) -> HealthStatus:
        issue = writable_issue(self.storage_path, "the labtrack store")
        return HealthStatus(
            backend=self.name,
            issues=[issue] if issue else [],
            details={"storage_path": str(self.storage_path.absolute())},
        )

    def close_sync(self) -> None:
        for writer in list(self._runs.values()):
            writer.finish("completed")
        self._runs.clear()


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name).strip(".")
    return cleaned[:80] or "run"


def _kind_type(kind: str) -> str:
    return {"figure": "plot", "other": "data"}.get(kind, kind)
