"""The tracking API with plain methods (``SyncMLTracker``, ``SyncExperimentRepository``).

Over a :class:`~labtrack.tracking.BlockingBackend` (the built-in ones) a call runs the blocking
method directly, under the backend's lock. Over a purely async backend it runs the coroutine on
one event loop kept in a daemon thread for the whole process, so a training loop never pays for
``asyncio.run`` per call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._backend import BlockingBackend, TrackingBackend
from ._models import (
    ArtifactType,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    MetricPoint,
    ModelArtifact,
    TrainingMetrics,
)
from ._tracker import _artifact, _check_finals, _final_status, _metrics_of, _select, _Steps, compare

T = TypeVar("T")


class _Loop:
    """An event loop in a daemon thread, for the sync API over a purely async backend."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T]) -> T:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, daemon=True, name="labtrack-tracking"
                ).start()
                cls._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, cls._loop).result()


def _call(backend: TrackingBackend, method: str, *args: Any, **kwargs: Any) -> Any:
    if isinstance(backend, BlockingBackend):
        return backend._locked(getattr(backend, f"{method}_sync"), *args, **kwargs)
    return _Loop.run(getattr(backend, method)(*args, **kwargs))


class SyncMLTracker:
    """:class:`MLTracker` with plain methods, for training loops (no ``asyncio.run`` per call)."""

    def __init__(self, backend: TrackingBackend, *, default_experiment: str = "default") -> None:
        self.backend = backend
        self.default_experiment = default_experiment
        self._steps = _Steps()

    def __repr__(self) -> str:
        return f"SyncMLTracker(backend={self.backend.name!r})"

    def create_run(
        self,
        experiment_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        run_name: str | None = None,
    ) -> ExperimentRun:
        result: ExperimentRun = _call(
            self.backend,
            "create_run",
            experiment_name or self.default_experiment,
            dict(config or {}),
            run_name=run_name,
        )
        return result

    def log_metrics(
        self,
        run: ExperimentRun,
        metrics: TrainingMetrics | Mapping[str, float],
        step: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        values, at = _metrics_of(metrics, step)
        if values:
            at = self._steps.take(run, list(values), at)
            _call(self.backend, "log_metrics", run, values, step=at, context=context)

    def log_metric(
        self,
        run: ExperimentRun,
        name: str,
        value: float,
        step: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.log_metrics(run, {name: value}, step, context=context)

    def log_params(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        _call(self.backend, "log_params", run, dict(params))

    def log_artifact(
        self,
        run: ExperimentRun,
        path: str | Path,
        artifact_type: ArtifactType | str = ArtifactType.MODEL,
        metadata: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> ModelArtifact:
        result: ModelArtifact = _call(
            self.backend, "log_artifact", run, _artifact(path, artifact_type, metadata, name)
        )
        return result

    def finish_run(
        self,
        run: ExperimentRun,
        status: ExperimentStatus | str = ExperimentStatus.COMPLETED,
        final_metrics: Mapping[str, float] | None = None,
    ) -> None:
        _call(
            self.backend,
            "finish_run",
            run,
            status=_final_status(status),
            final_metrics=_check_finals(final_metrics),
        )


class SyncExperimentRepository:
    """:class:`ExperimentRepository` with plain methods."""

    def __init__(self, backend: TrackingBackend) -> None:
        self.backend = backend

    def list_experiments(
        self,
        status: ExperimentStatus | str | None = None,
        *,
        experiment_name: str | None = None,
        limit: int | None = None,
    ) -> list[ExperimentSummary]:
        return _select(_call(self.backend, "list_experiments"), status, experiment_name, limit)

    def get_experiment(self, experiment_id: str) -> ExperimentSummary:
        result: ExperimentSummary = _call(self.backend, "get_experiment", str(experiment_id))
        return result

    def get_experiment_metrics(
        self, experiment_id: str, name: str | None = None
    ) -> list[MetricPoint]:
        points: list[MetricPoint] = _call(
            self.backend, "get_experiment_metrics", str(experiment_id)
        )
        return [p for p in points if name is None or p.name == name]

    def compare_experiments(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        metrics: Sequence[str] | None = None,
        config_keys: Sequence[str] | None = None,
        sort_by: str | None = None,
        mode: Literal["max", "min"] = "max",
    ) -> list[dict[str, Any]]:
        runs = (
            self.list_experiments()
            if experiment_ids is None
            else [self.get_experiment(i) for i in experiment_ids]
        )
        return compare(runs, metrics, config_keys, sort_by, mode)

    def best_experiment(
        self,
        metric: str,
        mode: Literal["max", "min"] = "max",
        status: ExperimentStatus | str | None = None,
    ) -> ExperimentSummary | None:
        runs = self.list_experiments(status=status)
        rows = compare(runs, [metric], sort_by=metric, mode=mode)
        if not rows or rows[0][metric] is None:
            return None
        return next(r for r in runs if r.experiment_id == rows[0]["experiment_id"])
