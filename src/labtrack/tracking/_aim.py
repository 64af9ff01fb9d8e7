"""The Aim backend: real Aim runs (``aim.Run``), read back through ``aim.Repo``.

What goes where in an Aim run: the config under ``hparams`` (Aim's UI compares those), params
under ``params``, metrics as Aim sequences with their step and context, artifacts through
``Run.log_artifact`` (into ``<repo>/artifacts``) and listed under ``labtrack.artifacts`` with
their types and metadata, the tracking status and final metrics under ``labtrack``.

Reading: Aim 3.x readers see a run only once the repository's index has it, and only
``aim up`` keeps the index current. Before every read this backend indexes the runs whose
index is out of date, as ``aim up`` would (when another process holds the index lock it reads
what is indexed). Aim's system-resource sequences (``__system__*``) are not reported.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import require
from ..sinks._aim import index_repo
from ._backend import BlockingBackend, ExperimentNotFoundError, writable_issue
from ._models import (
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    HealthStatus,
    MetricPoint,
    ModelArtifact,
)

log = logging.getLogger(__name__)
_SYSTEM = "__system__"


def _time(seconds: float | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds or 0.0, tz=dt.timezone.utc)


def _plain(value: Any) -> Any:
    """Aim's tree values as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class AimBackend(BlockingBackend):
    """Runs in the Aim repository at ``repo_path`` (default ``./aim_logs``)."""

    name = "aim"

    def __init__(self, repo_path: str | Path | None = None) -> None:
        super().__init__()
        self.repo_path = Path(repo_path or "aim_logs").absolute()
        self._runs: dict[str, Any] = {}

    def _aim(self) -> Any:
        return require("aim", "aim", "The Aim tracking backend")

    def create_run_sync(
        self, experiment_name: str, config: dict[str, Any], *, run_name: str | None = None
    ) -> ExperimentRun:
        aim = self._aim()
        self.repo_path.mkdir(parents=True, exist_ok=True)
        run = aim.Run(
            repo=str(self.repo_path),
            experiment=experiment_name,
            system_tracking_interval=None,
            capture_terminal_logs=False,
            log_system_params=False,
        )
        if run_name:
            run.name = run_name
        run["hparams"] = config
        run["labtrack"] = {"status": ExperimentStatus.RUNNING.value, "run_name": run_name}
        run["params"] = {}
        run.set_artifacts_uri((self.repo_path / "artifacts").as_uri())
        self._runs[run.hash] = run
        return ExperimentRun(
            run_id=run.hash,
            experiment_name=experiment_name,
            backend=self.name,
            start_time=_time(run.creation_time),
        )

    def _run_of(self, run: ExperimentRun) -> Any:
        found = self._runs.get(run.run_id)
        if found is None:
            raise ExperimentNotFoundError(run.run_id, f"{self.name} (open runs of this tracker)")
        return found

    def log_metrics_sync(
        self,
        run: ExperimentRun,
        metrics: Mapping[str, float],
        *,
        step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        aim_run = self._run_of(run)
        for key, value in metrics.items():
            aim_run.track(float(value), name=key, step=step, context=dict(context or {}))

    def log_params_sync(self, run: ExperimentRun, params: Mapping[str, Any]) -> None:
        aim_run = self._run_of(run)
        merged = {**_plain(aim_run.get("params", {}) or {}), **_plain(dict(params))}
        aim_run["params"] = merged

    def log_artifact_sync(self, run: ExperimentRun, artifact: ModelArtifact) -> ModelArtifact:
        aim_run = self._run_of(run)
        name = f"{artifact.artifact_type.value}/{artifact.name}"
        aim_run.log_artifact(artifact.file_path, name=name)
        stored = artifact.model_copy(
            update={"file_path": str(self.repo_path / "artifacts" / aim_run.hash / name)}
        )
        listed = _plain(aim_run.get("labtrack_artifacts", []) or [])
        aim_run["labtrack_artifacts"] = [*listed, stored.model_dump(mode="json")]
        return stored

    def finish_run_sync(
        self, run: ExperimentRun, *, status: ExperimentStatus, final_metrics: dict[str, float]
    ) -> None:
        aim_run = self._run_of(run)
        info = _plain(aim_run.get("labtrack", {}) or {})
        aim_run["labtrack"] = {**info, "status": status.value, "final_metrics": final_metrics}
        aim_run.close()
        self._runs.pop(run.run_id, None)

    # ------------------------------------------------------------------ reading

    def _repo(self) -> Any:
        aim = self._aim()
        if not (self.repo_path / ".aim").is_dir():
            return None
        index_repo(self.repo_path)
        return aim.Repo(str(self.repo_path))

    def _metrics(self, aim_run: Any) -> list[MetricPoint]:
        points: list[MetricPoint] = []
        for metric in aim_run.metrics():
            if metric.name.startswith(_SYSTEM):
                continue
            steps, (values, _epochs, stamps) = metric.data.items_list()
            context = _plain(metric.context.to_dict())
            points.extend(
                MetricPoint(
                    name=metric.name,
                    step=int(s),
                    value=float(v),
                    wall_time=float(t),
                    context=context,
                )
                for s, v, t in zip(steps, values, stamps, strict=False)
            )
        points.sort(key=lambda p: (p.name, p.step, p.wall_time))
        return points

    def _summary(self, aim_run: Any) -> ExperimentSummary:
        info = _plain(aim_run.get("labtrack", {}) or {})
        status = ExperimentStatus(info.get("status", "running"))
        if status == ExperimentStatus.RUNNING and not aim_run.active:
            status = ExperimentStatus.FAILED  # closed without finish_run: its process ended
        finals: dict[str, float] = {}
        try:
            for point in self._metrics(aim_run):  # sorted by step: the last one wins
                finals[point.name] = point.value
        except Exception as exc:  # a run being written elsewhere may have unreadable sequences
            log.debug("metrics of Aim run %s not readable yet: %s", aim_run.hash, exc)
        finals.update(info.get("final_metrics") or {})
        start, end = aim_run.creation_time, aim_run.end_time
        return ExperimentSummary(
            experiment_id=aim_run.hash,
            name=aim_run.experiment or "",
            run_name=info.get("run_name") or aim_run.name,
            status=status,
            start_time=_time(start),
            end_time=_time(end) if end else None,
            duration=dt.timedelta(seconds=end - start) if end and start else None,
            final_metrics=finals,
            config=_plain(aim_run.get("hparams", {}) or {}),
            params=_plain(aim_run.get("params", {}) or {}),
            artifacts=[
                ModelArtifact.model_validate(a)
                for a in _plain(aim_run.get("labtrack_artifacts", []) or [])
            ],
            backend=self.name,
        )

    def _ours(self, aim_run: Any) -> bool:
        return aim_run.get("labtrack", None) is not None

    def list_experiments_sync(self) -> list[ExperimentSummary]:
        repo = self._repo()
        if repo is None:
            return []
        return [self._summary(r) for r in repo.iter_runs() if self._ours(r)]

    def _get(self, experiment_id: str) -> Any:
        repo = self._repo()
        if repo is not None:
            found = repo.get_run(experiment_id)
            if found is not None:
                return found
            named = [
                r
                for r in repo.iter_runs()
                if self._ours(r) and (r.get("labtrack") or {}).get("run_name") == experiment_id
            ]
            if len(named) == 1:
                return named[0]
        raise ExperimentNotFoundError(experiment_id, self.name)

    def get_experiment_sync(self, experiment_id: str) -> ExperimentSummary:
        return self._summary(self._get(experiment_id))

    def get_experiment_metrics_sync(self, experiment_id: str) -> list[MetricPoint]:
        return self._metrics(self._get(experiment_id))

    def health_sync(self) -> HealthStatus:
        details = {"repo_path": str(self.repo_path)}
        try:
            aim = self._aim()
        except ImportError as exc:
            return HealthStatus(backend=self.name, issues=[str(exc)], details=details)
        issues = []
        issue = writable_issue(self.repo_path, "the Aim repository folder")
        if issue:
            issues.append(issue)
        elif (self.repo_path / ".aim").is_dir():
            try:
                repo = aim.Repo(str(self.repo_path))
                if repo.is_index_corrupted():
                    issues.append(f"the Aim repository {self.repo_path} has a corrupt index")
                corrupted = repo.list_corrupted_runs()
                if corrupted:
                    issues.append(f"the Aim repository has corrupt runs: {', '.join(corrupted)}")
                repo.close()
            except Exception as exc:  # whatever Aim raises is the problem to report
                issues.append(f"the Aim repository {self.repo_path} cannot be opened: {exc}")
            problem = index_repo(self.repo_path)
            if problem:
                issues.append(problem)
        from importlib.metadata import version

        details["aim_version"] = version("aim")
        return HealthStatus(backend=self.name, issues=issues, details=details)

    def close_sync(self) -> None:
        for aim_run in list(self._runs.values()):
            aim_run.close()
        self._runs.clear()
