"""MLflow mirror: a real MLflow run (params, metrics, artifacts) in any tracking URI.

Uses ``MlflowClient`` with an explicit run id (never MLflow's global "active run"), so several
trackers in one process do not interfere. Metrics go in ``log_batch`` calls of at most 1,000.
A resumed run (``SinkRun.resume_id``) continues the same MLflow run; params already recorded
with the same value are not sent again (MLflow refuses to change a param).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SinkError, require
from ._base import Sink, SinkRun

_BAD_KEY = re.compile(r"[^\w\-./ ]")
_BATCH = 1000
_PARAM_BATCH = 100
_PARAM_MAX = 6000


def _key(name: str) -> str:
    return _BAD_KEY.sub("_", name)


class MlflowSink(Sink):
    """Mirror into MLflow.

    Args:
        tracking_uri: e.g. ``"sqlite:///data/mlflow.db"``, ``"http://host:5000"``.
        artifact_location: artifact root of a newly created experiment (default: MLflow's).
        experiment: MLflow experiment name (default: the run's experiment).
    """

    name = "mlflow"

    def __init__(
        self,
        tracking_uri: str,
        *,
        artifact_location: str | None = None,
        experiment: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_location = artifact_location
        self.experiment = experiment
        self.run_id: str | None = None
        self._client: Any = None
        self._params: dict[str, str] = {}

    def open(self, run: SinkRun) -> str | None:
        require("mlflow", "mlflow", "The MLflow sink")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        name = self.experiment or run.experiment
        exp = client.get_experiment_by_name(name)
        exp_id = (
            exp.experiment_id
            if exp is not None
            else client.create_experiment(name, artifact_location=self.artifact_location)
        )
        if run.resume_id:
            existing = client.get_run(run.resume_id)
            client.update_run(run.resume_id, status="RUNNING")
            self.run_id = run.resume_id
            self._params = dict(existing.data.params)
        else:
            created = client.create_run(
                exp_id,
                run_name=run.name,
                tags={"labtrack.run_dir": str(run.run_dir)},
            )
            self.run_id = created.info.run_id
        self._client = client
        return self.run_id

    def _need(self) -> Any:
        if self._client is None or self.run_id is None:
            raise SinkError("MlflowSink used before open()")
        return self._client

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        from mlflow.entities import Metric

        client = self._need()
        ms = int((time.time() if wall_time is None else wall_time) * 1000)
        batch = [Metric(_key(k), float(v), ms, int(step)) for k, v in metrics.items()]
        for i in range(0, len(batch), _BATCH):
            client.log_batch(self.run_id, metrics=batch[i : i + _BATCH], synchronous=True)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        client = self._need()
        new = {}
        for k, v in params.items():
            key, value = _key(k), str(v)[:_PARAM_MAX]
            if self._params.get(key) != value and key not in self._params:
                new[key] = value
        items = [Param(k, v) for k, v in new.items()]
        for i in range(0, len(items), _PARAM_BATCH):
            client.log_batch(self.run_id, params=items[i : i + _PARAM_BATCH], synchronous=True)
        self._params.update(new)

    def log_artifact(self, path: Path, *, name: str | None = None) -> None:
        client = self._need()
        client.log_artifact(self.run_id, str(path), artifact_path=name)

    def close(self) -> None:
        if self._client is not None and self.run_id is not None:
            self._client.set_terminated(self.run_id, "FINISHED")
        self._client = None
