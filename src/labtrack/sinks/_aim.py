"""Aim mirror: a real Aim run (``aim.Run``) with metrics, params (``hparams``) and artifacts.

Metrics are Aim sequences named as logged, with an empty context; ``wall_time`` is not sent
(Aim stamps values itself). Params are merged into ``hparams``. Artifacts go through
``Run.log_artifact`` into ``<repo>/artifacts``. A resumed run (``SinkRun.resume_id``, the Aim
run hash) continues the same Aim run. Aim is fragile (its repository locks, no wheels for some
Pythons): callers that must not lose their own copy wrap this sink in ``GuardedSink``, as the
tracker does.

Aim 3.x readers only see runs the repository's index holds, which only ``aim up`` updates;
:func:`index_repo` does the same for readers in this process (tests, the tracking backend).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SinkError, require
from ._base import Sink, SinkRun

log = logging.getLogger(__name__)


def index_repo(repo_path: str | Path) -> str | None:
    """Bring the index of the Aim repository at ``repo_path`` up to date, as ``aim up`` does;
    returns why it could not (another process holds the index lock, a corrupt run), or None."""
    aim: Any = require("aim", "aim", "Reading an Aim repository")
    from aim.sdk.index_manager import RepoIndexManager

    repo = aim.Repo(str(repo_path))
    manager: Any = RepoIndexManager(repo)
    chunks = Path(repo.path) / "meta" / "chunks"
    try:
        index = repo.request_tree("meta", read_only=True)
        for run_hash in sorted(os.listdir(chunks)) if chunks.is_dir() else []:
            if manager._is_run_index_outdated(run_hash, index):
                manager.index(run_hash)
    except Exception as exc:  # a lock held elsewhere or a corrupt chunk: read what is indexed
        log.warning("Aim repository %s could not be indexed: %s", repo_path, exc, exc_info=True)
        why = (
            " (its index is locked by another process, e.g. `aim up`)" if "lock" in str(exc) else ""
        )
        return f"the Aim repository {repo_path} could not be indexed{why}: {exc}"
    finally:
        repo.close()
    skipped = sorted(getattr(manager, "_corrupted_runs", ()))
    if skipped:  # Aim's indexer skips what it cannot write: a locked index or a corrupt run
        return (
            f"the Aim repository {repo_path} could not index run(s) {', '.join(skipped)}: its "
            "index is locked by another process or the runs are corrupt"
        )
    return None


class AimSink(Sink):
    """Mirror into the Aim repository at ``repo_path`` (created when missing).

    Args:
        repo_path: folder of the Aim repository (the one ``aim up --repo`` serves).
        experiment: Aim experiment name (default: the run's experiment).
    """

    name = "aim"

    def __init__(
        self, repo_path: str | Path = "aim_logs", *, experiment: str | None = None
    ) -> None:
        self.repo_path = Path(repo_path).absolute()
        self.experiment = experiment
        self.run_hash: str | None = None
        self._run: Any = None

    def open(self, run: SinkRun) -> str | None:
        aim: Any = require("aim", "aim", "The Aim sink")
        self.repo_path.mkdir(parents=True, exist_ok=True)
        aim_run = aim.Run(
            run_hash=run.resume_id,
            repo=str(self.repo_path),
            experiment=self.experiment or run.experiment,
            system_tracking_interval=None,
            capture_terminal_logs=False,
            log_system_params=False,
        )
        if run.resume_id is None:
            aim_run.name = run.name
            aim_run["labtrack_run_dir"] = str(run.run_dir)
        aim_run.set_artifacts_uri((self.repo_path / "artifacts").as_uri())
        self._run = aim_run
        self.run_hash = aim_run.hash
        return self.run_hash

    def _need(self) -> Any:
        if self._run is None:
            raise SinkError("AimSink used before open()")
        return self._run

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        aim_run = self._need()
        for key, value in metrics.items():
            aim_run.track(float(value), name=key, step=int(step))

    def log_params(self, params: Mapping[str, Any]) -> None:
        aim_run = self._need()
        current = aim_run.get("hparams", None) or {}
        aim_run["hparams"] = {**dict(current), **{str(k): _plain(v) for k, v in params.items()}}

    def log_artifact(self, path: Path, *, name: str | None = None) -> None:
        aim_run = self._need()
        target = f"{name}/{Path(path).name}" if name else Path(path).name
        aim_run.log_artifact(str(path), name=target)

    def close(self) -> None:
        if self._run is not None:
            self._run.close()
        self._run = None


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
