"""``MLTracker`` (record) and ``ExperimentRepository`` (read), async, over any backend (the
sync twins are in ``_sync``).

The facade owns what must be the same for every backend: argument checks, the step of a metric
logged without one (its last step + 1, from 0), final statuses, artifacts' metadata, sorting
and filtering of listings, and comparisons. Backends only store and read back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ._backend import TrackingBackend
from ._models import (
    FINAL_STATUSES,
    ArtifactType,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    MetricPoint,
    ModelArtifact,
    TrainingMetrics,
)


class _Steps:
    """Next step per (run, metric) for metrics logged without a step."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}

    def take(self, run: ExperimentRun, names: Sequence[str], step: int | None) -> int:
        if step is None:
            step = max((self._next.get((run.run_id, n), 0) for n in names), default=0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        for name in names:
            key = (run.run_id, name)
            self._next[key] = max(self._next.get(key, 0), step + 1)
        return step


def _metrics_of(
    metrics: TrainingMetrics | Mapping[str, float], step: int | None
) -> tuple[dict[str, float], int | None]:
    if isinstance(metrics, TrainingMetrics):
        return metrics.values(), metrics.step if step is None else step
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be TrainingMetrics or a mapping, got {type(metrics)}")
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric {key!r} must be a number, got {value!r}")
        out[str(key)] = float(value)
    return out, step


def _artifact(
    path: str | Path,
    artifact_type: ArtifactType | str,
    metadata: Mapping[str, Any] | None,
    name: str | None,
) -> ModelArtifact:
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"artifact {str(path)!r} is not a file")
    return ModelArtifact(
        name=name or source.name,
        artifact_type=ArtifactType(artifact_type),
        file_path=str(source),
        metadata=dict(metadata or {}),
    )


def _final_status(status: ExperimentStatus | str) -> ExperimentStatus:
    value = ExperimentStatus(status)
    if value not in FINAL_STATUSES:
        valid = ", ".join(s.value for s in FINAL_STATUSES)
        raise ValueError(f"finish_run needs a final status ({valid}), got {value.value!r}")
    return value


def _check_finals(final_metrics: Mapping[str, float] | None) -> dict[str, float]:
    return _metrics_of(dict(final_metrics or {}), None)[0]


class MLTracker:
    """Record runs into a backend; every method is a coroutine that never blocks the loop.

    >>> tracker = await get_ml_tracker()                                  # doctest: +SKIP
    >>> run = await tracker.create_run("ppo", config={"lr": 3e-4})        # doctest: +SKIP
    >>> await tracker.log_metrics(run, TrainingMetrics(step=1, loss=0.5)) # doctest: +SKIP
    >>> await tracker.finish_run(run)                                     # doctest: +SKIP
    """

    def __init__(self, backend: TrackingBackend, *, default_experiment: str = "default") -> None:
        self.backend = backend
        self.default_experiment = default_experiment
        self._steps = _Steps()

    def __repr__(self) -> str:
        return f"MLTracker(backend={self.backend.name!r})"

    async def create_run(
        self,
        experiment_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        run_name: str | None = None,
    ) -> ExperimentRun:
        """Start a run of ``experiment_name`` (default ``$ML_EXPERIMENT_NAME``) with ``config``."""
        return await self.backend.create_run(
            experiment_name or self.default_experiment, dict(config or {}), run_name=run_name
        )

    async def log_metrics(
        self,
        run: ExperimentRun,
        metrics: TrainingMetrics | Mapping[str, float],
        step: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Log several values at one step (``TrainingMetrics`` carries its own)."""
        values, at = _metrics_of(metrics, step)
        if values:
            at = self._steps.take(run, list(values), at)
            await self.backend.log_metrics(run, values, step=at, context=context)

    async def log_metric(
        self,
        run: ExperimentRun,
        name: str,
        value: float,
        step: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Log one value (``step=None``: one past the metric's last step)."""
        await self.log_metrics(run, {name: value}, step, context=context)

    async def log_params(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        """Record parameters beside the config (e.g. the hyperparameters a library chose)."""
        await self.backend.log_params(run, dict(params))

    async def log_artifact(
        self,
        run: ExperimentRun,
        path: str | Path,
        artifact_type: ArtifactType | str = ArtifactType.MODEL,
        metadata: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> ModelArtifact:
        """Copy the file ``path`` into the run; returns the artifact as recorded."""
        return await self.backend.log_artifact(run, _artifact(path, artifact_type, metadata, name))

    async def finish_run(
        self,
        run: ExperimentRun,
        status: ExperimentStatus | str = ExperimentStatus.COMPLETED,
        final_metrics: Mapping[str, float] | None = None,
    ) -> None:
        """End the run. Its final metrics are the last value of every metric logged, with
        ``final_metrics`` added over them."""
        await self.backend.finish_run(
            run, status=_final_status(status), final_metrics=_check_finals(final_metrics)
        )


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _select(
    runs: list[ExperimentSummary],
    status: ExperimentStatus | str | None,
    experiment_name: str | None,
    limit: int | None,
) -> list[ExperimentSummary]:
    wanted = ExperimentStatus(status) if status is not None else None
    out = [
        r
        for r in runs
        if (wanted is None or r.status == wanted)
        and (experiment_name is None or r.name == experiment_name)
    ]
    out.sort(key=lambda r: (r.start_time, r.experiment_id), reverse=True)
    return out if limit is None else out[:limit]


def compare(
    runs: Sequence[ExperimentSummary],
    metrics: Sequence[str] | None = None,
    config_keys: Sequence[str] | None = None,
    sort_by: str | None = None,
    mode: Literal["max", "min"] = "max",
) -> list[dict[str, Any]]:
    """One row per run: id, name, status, the ``metrics`` (default: every final metric any run
    has) and the dotted ``config_keys``; sorted by the final metric ``sort_by`` (``mode``
    "max": best first), runs without it last."""
    names = (
        list(metrics) if metrics is not None else sorted({k for r in runs for k in r.final_metrics})
    )
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "experiment_id": r.experiment_id,
            "name": r.name,
            "status": r.status.value,
        }
        row.update({m: r.final_metrics.get(m) for m in names})
        row.update({f"config.{k}": _lookup(r.config, k) for k in config_keys or ()})
        rows.append(row)
    if sort_by is not None:

        def key(row: dict[str, Any]) -> tuple[bool, float]:
            value = next(r for r in runs if r.experiment_id == row["experiment_id"])
            got = value.final_metrics.get(sort_by)
            if got is None or math.isnan(got):
                return (True, 0.0)
            return (False, -got if mode == "max" else got)

        rows.sort(key=key)
    return rows


class ExperimentRepository:
    """Read runs back from a backend (async).

    >>> repo = await get_experiment_repository()                                # doctest: +SKIP
    >>> [e.name for e in await repo.list_experiments(status="completed")]       # doctest: +SKIP
    """

    def __init__(self, backend: TrackingBackend) -> None:
        self.backend = backend

    def __repr__(self) -> str:
        return f"ExperimentRepository(backend={self.backend.name!r})"

    async def list_experiments(
        self,
        status: ExperimentStatus | str | None = None,
        *,
        experiment_name: str | None = None,
        limit: int | None = None,
    ) -> list[ExperimentSummary]:
        """Runs, newest first, filtered by ``status`` and experiment name."""
        return _select(await self.backend.list_experiments(), status, experiment_name, limit)

    async def get_experiment(self, experiment_id: str) -> ExperimentSummary:
        """One run by id (or unique run name); ``ExperimentNotFoundError`` names a bad id."""
        return await self.backend.get_experiment(str(experiment_id))

    async def get_experiment_metrics(
        self, experiment_id: str, name: str | None = None
    ) -> list[MetricPoint]:
        """Every logged point of the run (or of metric ``name``), by metric then step."""
        points = await self.backend.get_experiment_metrics(str(experiment_id))
        return [p for p in points if name is None or p.name == name]

    async def compare_experiments(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        metrics: Sequence[str] | None = None,
        config_keys: Sequence[str] | None = None,
        sort_by: str | None = None,
        mode: Literal["max", "min"] = "max",
    ) -> list[dict[str, Any]]:
        """A table of runs (default: all) by final metrics and config keys (see :func:`compare`)."""
        if experiment_ids is None:
            runs = await self.list_experiments()
        else:
            runs = [await self.get_experiment(i) for i in experiment_ids]
        return compare(runs, metrics, config_keys, sort_by, mode)

    async def best_experiment(
        self,
        metric: str,
        mode: Literal["max", "min"] = "max",
        status: ExperimentStatus | str | None = None,
    ) -> ExperimentSummary | None:
        """The run with the best final ``metric`` (None when no run has it)."""
        runs = await self.list_experiments(status=status)
        rows = compare(runs, [metric], sort_by=metric, mode=mode)
        if not rows or rows[0][metric] is None:
            return None
        return next(r for r in runs if r.experiment_id == rows[0]["experiment_id"])
