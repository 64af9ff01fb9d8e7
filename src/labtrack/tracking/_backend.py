"""The interface a tracking backend implements, and the base the built-in ones share.

:class:`TrackingBackend` is async, as the application layer is: a backend whose client is
itself async (a web API) implements it directly. The built-in backends talk to blocking
libraries (the labtrack store, Aim's RocksDB, MLflow's SQL store), so they subclass
:class:`BlockingBackend`: they write plain methods and its async methods run them in a worker
thread (``asyncio.to_thread``), one call at a time per backend (their clients are not
thread-safe), so the event loop never waits on disk or network. The sync API calls the plain
methods directly.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import LabtrackError
from ._models import (
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    HealthStatus,
    MetricPoint,
    ModelArtifact,
)

T = TypeVar("T")


class ExperimentNotFoundError(LabtrackError, LookupError):
    """No run with the id (or unique run name) asked for."""

    def __init__(self, experiment_id: str, backend: str) -> None:
        super().__init__(f"no experiment with id {experiment_id!r} in the {backend} backend")
        self.experiment_id = experiment_id


class TrackingBackend(ABC):
    """One tracking system (labtrack's store, Aim, MLflow, ...).

    ``MLTracker`` and ``ExperimentRepository`` validate arguments and compute steps and final
    metrics; a backend only stores and reads back. ``final_metrics`` given to ``finish_run`` are
    complete (the last value of every metric, overridden by the caller's).
    """

    #: The name ``ML_TRACKING_BACKEND`` selects the backend by.
    name: ClassVar[str] = ""

    @abstractmethod
    async def create_run(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun: ...

    @abstractmethod
    async def log_metrics(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None: ...

    @abstractmethod
    async def log_params(self, run: ExperimentRun, params: Mapping[str, Any]) -> None: ...

    @abstractmethod
    async def log_artifact(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact:
        """Store the file ``artifact.file_path``; returns the artifact as recorded."""

    @abstractmethod
    async def finish_run(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None: ...

    @abstractmethod
    async def list_experiments(self) -> list[ExperimentSummary]:
        """Every run, in any order (the repository filters and sorts)."""

    @abstractmethod
    async def get_experiment(self, experiment_id: str) -> ExperimentSummary:
        """One run by id (or unique run name); :class:`ExperimentNotFoundError` otherwise."""

    @abstractmethod
    async def get_experiment_metrics(self, experiment_id: str) -> list[MetricPoint]:
        """Every point of every metric of a run, by metric then step."""

    async def health(self) -> HealthStatus:
        """Problems that would stop this backend from working (default: none known)."""
        return HealthStatus(backend=self.name)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and files."""


class BlockingBackend(TrackingBackend):
    """Base of backends over blocking libraries: implement the ``*_sync`` methods."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _locked(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(*args, **kwargs)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._locked, fn, *args, **kwargs)

    # ---- the blocking implementation -------------------------------------------------

    @abstractmethod
    def create_run_sync(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun: ...

    @abstractmethod
    def log_metrics_sync(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None: ...

    @abstractmethod
    def log_params_sync(self, run: ExperimentRun, params: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def log_artifact_sync(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact: ...

    @abstractmethod
    def finish_run_sync(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None: ...

    @abstractmethod
    def list_experiments_sync(self) -> list[ExperimentSummary]: ...

    @abstractmethod
    def get_experiment_sync(self, experiment_id: str) -> ExperimentSummary: ...

    @abstractmethod
    def get_experiment_metrics_sync(self, experiment_id: str) -> list[MetricPoint]: ...

    def health_sync(self) -> HealthStatus:
        return HealthStatus(backend=self.name)

    def close_sync(self) -> None:
        """Release clients and files."""

    # ---- the async interface, in a worker thread ---------------------------------------

    async def create_run(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun:
        result: ExperimentRun = await self._run(
            self.create_run_sync, experiment_name, config, run_name=run_name
        )
        return result

    async def log_metrics(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        await self._run(self.log_metrics_sync, run, metrics, step=step, context=context)

    async def log_params(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        await self._run(self.log_params_sync, run, params)

    async def log_artifact(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact:
        result: ModelArtifact = await self._run(self.log_artifact_sync, run, artifact)
        return result

    async def finish_run(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None:
        await self._run(self.finish_run_sync, run, status=status, final_metrics=final_metrics)

    async def list_experiments(self) -> list[ExperimentSummary]:
        result: list[ExperimentSummary] = await self._run(self.list_experiments_sync)
        return result

    async def get_experiment(self, experiment_id: str) -> ExperimentSummary:
        result: ExperimentSummary = await self._run(self.get_experiment_sync, experiment_id)
        return result

    async def get_experiment_metrics(self, experiment_id: str) -> list[MetricPoint]:
        result: list[MetricPoint] = await self._run(self.get_experiment_metrics_sync, experiment_id)
        return result

    async def health(self) -> HealthStatus:
        result: HealthStatus = await self._run(self.health_sync)
        return result

    async def close(self) -> None:
        await self._run(self.close_sync)


def writable_issue(path: Path, what: str) -> str | None:
    """Why ``path`` (a directory, created if missing) cannot be written, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".labtrack-health-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{what} {path} is not writable: {exc}"
    return None
