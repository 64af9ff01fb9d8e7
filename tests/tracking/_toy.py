"""The document's "Adding New Backends" example made real: a backend kept in memory,
implemented directly on the async ``TrackingBackend`` interface (no worker threads)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from labtrack.tracking import (
    ExperimentNotFoundError,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    MetricPoint,
    ModelArtifact,
    TrackingBackend,
)


class ToyBackend(TrackingBackend):
    name = "toy"

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}

    async def create_run(
        self, experiment_name: str, config: dict, *, run_name: str | None = None
    ) -> ExperimentRun:
        run_id = uuid.uuid4().hex
        start = dt.datetime.now(dt.timezone.utc)
        self.runs[run_id] = {
            "experiment": experiment_name,
            "run_name": run_name,
            "config": config,
            "params": {},
            "points": [],
            "artifacts": [],
            "status": ExperimentStatus.RUNNING,
            "final": {},
            "start": start,
            "end": None,
        }
        return ExperimentRun(
            run_id=run_id, experiment_name=experiment_name, backend=self.name, start_time=start
        )

    async def log_metrics(self, run, metrics, *, step, context=None) -> None:
        for key, value in metrics.items():
            self.runs[run.run_id]["points"].append(
                MetricPoint(name=key, step=step, value=value, wall_time=time.time())
            )

    async def log_params(self, run, params) -> None:
        self.runs[run.run_id]["params"].update(params)

    async def log_artifact(self, run, artifact: ModelArtifact) -> ModelArtifact:
        self.runs[run.run_id]["artifacts"].append(artifact)
        return artifact

    async def finish_run(self, run, *, status, final_metrics) -> None:
        doc = self.runs[run.run_id]
        doc.update(status=status, final=final_metrics, end=dt.datetime.now(dt.timezone.utc))

    def _summary(self, run_id: str) -> ExperimentSummary:
        doc = self.runs[run_id]
        finals = {p.name: p.value for p in sorted(doc["points"], key=lambda p: p.step)}
        finals.update(doc["final"])
        return ExperimentSummary(
            experiment_id=run_id,
            name=doc["experiment"],
            run_name=doc["run_name"],
            status=doc["status"],
            start_time=doc["start"],
            end_time=doc["end"],
            duration=doc["end"] - doc["start"] if doc["end"] else None,
            final_metrics=finals,
            config=doc["config"],
            params=doc["params"],
            artifacts=doc["artifacts"],
            backend=self.name,
        )

    async def list_experiments(self) -> list[ExperimentSummary]:
        return [self._summary(i) for i in self.runs]

    async def get_experiment(self, experiment_id: str) -> ExperimentSummary:
        if experiment_id not in self.runs:
            named = [i for i, d in self.runs.items() if d["run_name"] == experiment_id]
            if len(named) != 1:
                raise ExperimentNotFoundError(experiment_id, self.name)
            experiment_id = named[0]
        return self._summary(experiment_id)

    async def get_experiment_metrics(self, experiment_id: str) -> list[MetricPoint]:
        run_id = (await self.get_experiment(experiment_id)).experiment_id
        return sorted(self.runs[run_id]["points"], key=lambda p: (p.name, p.step))
