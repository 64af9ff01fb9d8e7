"""The MLflow backend, through ``MlflowClient`` (never MLflow's global active run).

Default tracking URI ``sqlite:///./mlruns/mlflow.db`` (MLflow 3 refuses a bare file store
unless ``MLFLOW_ALLOW_FILE_STORE`` is set). The config is stored twice: flattened as MLflow
params (what MLflow's UI compares) and as JSON in the tag ``labtrack.config`` (so it reads back
with its types). Tracking statuses, final metrics, params and artifacts' types and metadata are
tags too (MLflow's own statuses are FINISHED, FAILED and KILLED). The metric ``context`` is
not stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import require
from ._backend import BlockingBackend, ExperimentNotFoundError
from ._models import (
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    HealthStatus,
    MetricPoint,
    ModelArtifact,
)

_BAD_KEY = re.compile(r"[^\w\-./ ]")
_TAG = "labtrack."
_MLFLOW_STATUS = {
    ExperimentStatus.COMPLETED: "FINISHED",
    ExperimentStatus.FAILED: "FAILED",
    ExperimentStatus.CANCELLED: "KILLED",
    ExperimentStatus.PAUSED: "KILLED",
}
_FROM_MLFLOW = {
    "RUNNING": ExperimentStatus.RUNNING,
    "SCHEDULED": ExperimentStatus.STARTING,
    "FINISHED": ExperimentStatus.COMPLETED,
    "FAILED": ExperimentStatus.FAILED,
    "KILLED": ExperimentStatus.CANCELLED,
}


def _key(name: str) -> str:
    return _BAD_KEY.sub("_", name)


def _flat(doc: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[_key(name)] = str(value)[:6000]
    return out


def _time(ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((ms or 0) / 1000, tz=dt.timezone.utc)


class MlflowBackend(BlockingBackend):
    """Runs in MLflow at ``tracking_uri``; new experiments keep their artifacts in
    ``artifact_location`` (default: ``mlartifacts`` beside a SQLite database)."""

    name = "mlflow"

    def __init__(
        self, tracking_uri: str | None = None, *, artifact_location: str | None = None
    ) -> None:
        super().__init__()
        self.tracking_uri = tracking_uri or f"sqlite:///{Path('mlruns').absolute() / 'mlflow.db'}"
        if artifact_location is None and self.tracking_uri.startswith("sqlite:///"):
            # beside the database, not MLflow's default of ./mlruns in the working directory
            db = Path(self.tracking_uri[len("sqlite:///") :])
            artifact_location = (db.parent / "mlartifacts").absolute().as_uri()
        self.artifact_location = artifact_location
        self._client_obj: Any = None
        self._meta: dict[str, dict[str, Any]] = {}  # run id -> params and artifacts so far

    def _client(self) -> Any:
        if self._client_obj is None:
            require("mlflow", "mlflow", "The MLflow tracking backend")
            from mlflow.tracking import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                Path(self.tracking_uri[len("sqlite:///") :]).parent.mkdir(
                    parents=True, exist_ok=True
                )
            self._client_obj = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client_obj

    def create_run_sync(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun:
        from mlflow.entities import Param

        client = self._client()
        exp = client.get_experiment_by_name(experiment_name)
        exp_id = (
            exp.experiment_id
            if exp is not None
            else client.create_experiment(experiment_name, artifact_location=self.artifact_location)
        )
        created = client.create_run(
            exp_id,
            run_name=run_name,
            tags={f"{_TAG}config": json.dumps(config), f"{_TAG}run_name": run_name or ""},
        )
        run_id = created.info.run_id
        params = [Param(k, v) for k, v in _flat(config).items()]
        for i in range(0, len(params), 100):
            client.log_batch(run_id, params=params[i : i + 100], synchronous=True)
        self._meta[run_id] = {"params": {}, "artifacts": []}
        return ExperimentRun(
            run_id=run_id,
            experiment_name=experiment_name,
            backend=self.name,
            start_time=_time(created.info.start_time),
        )

    def log_metrics_sync(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        from mlflow.entities import Metric

        ms = int(time.time() * 1000)
        batch = [Metric(_key(k), float(v), ms, int(step)) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            self._client().log_batch(run.run_id, metrics=batch[i : i + 1000], synchronous=True)

    def _state(self, run_id: str) -> dict[str, Any]:
        state = self._meta.get(run_id)
        if state is None:
            tags = self._client().get_run(run_id).data.tags
            state = self._meta[run_id] = {
                "params": json.loads(tags.get(f"{_TAG}params", "{}")),
                "artifacts": json.loads(tags.get(f"{_TAG}artifacts", "[]")),
            }
        return state

    def log_params_sync(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        state = self._state(run.run_id)
        state["params"].update(json.loads(json.dumps(dict(params), default=str)))
        self._client().set_tag(run.run_id, f"{_TAG}params", json.dumps(state["params"]))

    def log_artifact_sync(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact:
        client = self._client()
        folder = artifact.artifact_type.value
        source = Path(artifact.file_path)
        if source.name != artifact.name:  # MLflow names the copy after the file
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                renamed = Path(tmp) / Path(artifact.name).name
                shutil.copyfile(source, renamed)
                client.log_artifact(run.run_id, str(renamed), artifact_path=folder)
        else:
            client.log_artifact(run.run_id, str(source), artifact_path=folder)
        uri = client.get_run(run.run_id).info.artifact_uri
        stored = artifact.model_copy(
            update={"file_path": f"{uri}/{folder}/{Path(artifact.name).name}"}
        )
        state = self._state(run.run_id)
        state["artifacts"].append(stored.model_dump(mode="json"))
        client.set_tag(run.run_id, f"{_TAG}artifacts", json.dumps(state["artifacts"]))
        return stored

    def finish_run_sync(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None:
        client = self._client()
        client.set_tag(run.run_id, f"{_TAG}final_metrics", json.dumps(final_metrics))
        client.set_tag(run.run_id, f"{_TAG}status", status.value)
        client.set_terminated(run.run_id, _MLFLOW_STATUS[status])
        self._meta.pop(run.run_id, None)

    # ------------------------------------------------------------------ reading

    def _summary(self, got: Any) -> ExperimentSummary:
        info, data = got.info, got.data
        tags = data.tags
        status = _FROM_MLFLOW.get(info.status, ExperimentStatus.FAILED)
        if f"{_TAG}status" in tags and info.status != "RUNNING":
            status = ExperimentStatus(tags[f"{_TAG}status"])
        finals = {k: float(v) for k, v in data.metrics.items()}
        finals.update(json.loads(tags.get(f"{_TAG}final_metrics", "{}")))
        exp = self._client().get_experiment(info.experiment_id)
        start, end = info.start_time, info.end_time
        return ExperimentSummary(
            experiment_id=info.run_id,
            name=exp.name,
            run_name=tags.get(f"{_TAG}run_name") or info.run_name,
            status=status,
            start_time=_time(start),
            end_time=_time(end) if end else None,
            duration=dt.timedelta(milliseconds=end - start) if end and start else None,
            final_metrics=finals,
            config=json.loads(tags.get(f"{_TAG}config", "{}")),
            params=json.loads(tags.get(f"{_TAG}params", "{}")),
            artifacts=[
                ModelArtifact.model_validate(a)
                for a in json.loads(tags.get(f"{_TAG}artifacts", "[]"))
            ],
            backend=self.name,
        )

    def _all_runs(self) -> list[Any]:
        from mlflow.entities import ViewType

        client = self._client()
        exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
        runs: list[Any] = []
        token = None
        while exps:
            page = client.search_runs(exps, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        return runs

    def list_experiments_sync(self) -> list[ExperimentSummary]:
        return [self._summary(r) for r in self._all_runs() if f"{_TAG}config" in r.data.tags]

    def _get(self, experiment_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._client().get_run(experiment_id)
        except MlflowException:
            named = [
                r for r in self._all_runs() if r.data.tags.get(f"{_TAG}run_name") == experiment_id
            ]
            if len(named) == 1:
                return named[0]
        raise ExperimentNotFoundError(experiment_id, self.name)

    def get_experiment_sync(self, experiment_id: str) -> ExperimentSummary:
        return self._summary(self._get(experiment_id))

    def get_experiment_metrics_sync(self, experiment_id: str) -> list[MetricPoint]:
        got = self._get(experiment_id)
        client = self._client()
        points: list[MetricPoint] = []
        for key in sorted(got.data.metrics):
            history = client.get_metric_history(got.info.run_id, key)
            points.extend(
                MetricPoint(name=key, step=m.step, value=m.value, wall_time=m.timestamp / 1000)
                for m in sorted(history, key=lambda m: (m.step, m.timestamp))
            )
        return points

    def health_sync(self) -> HealthStatus:
        issues = []
        try:
            self._client().search_experiments(max_results=1)
        except ImportError as exc:
            issues.append(str(exc))
        except Exception as exc:  # any failure of the server or database is the answer here
            issues.append(f"MLflow at {self.tracking_uri} is unreachable: {exc}")
        return HealthStatus(
            backend=self.name, issues=issues, details={"tracking_uri": self.tracking_uri}
        )


__all__ = ["MlflowBackend"]
