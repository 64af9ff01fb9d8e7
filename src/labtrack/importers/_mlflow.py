"""MLflow tracking stores -> labtrack runs, read through ``MlflowClient``.

Any tracking URI MLflow reads: ``sqlite:///path.db`` (and other databases), a file store (a path
or ``file://``), or an ``http(s)://`` server. Carried: every run of every experiment (or of the
one named), with params (MLflow's strings, unchanged), tags, each metric's whole history from
``get_metric_history`` (which pages) with steps *and* timestamps (milliseconds / 1000 as the wall
time), the status, the start and end times (tags ``mlflow.start_time`` / ``mlflow.end_time``, in
MLflow's milliseconds), and artifacts, copied. An artifact folder holding an ``MLmodel`` file is
one ``model`` artifact whose metadata is that file's flavors; MLflow 3 logged models of the run
are copied under ``models/<name>`` the same way; other files get a kind guessed from their
suffix.

The run's key is ``mlflow:<run id>`` (MLflow run ids are unique), so the same run reached
through another URI spelling is still the same labtrack run. A database path or file store that
does not exist is an error (MLflow would create an empty one); an ``http`` server is asked for
``/health`` first, so an unreachable one fails in seconds, naming the URI.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import require
from ._base import Artifact, ImportReport, ImportSourceError, SourceRun
from ._write import import_all, safe_experiment, store_dir

_STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "killed"}
_MODEL_FILE = "MLmodel"
_KINDS = {
    "checkpoint": (".ckpt", ".pt", ".pth", ".safetensors", ".bin", ".h5", ".keras", ".onnx"),
    "figure": (".png", ".jpg", ".jpeg", ".svg", ".gif", ".html"),
    "data": (".csv", ".parquet", ".json", ".jsonl", ".npy", ".npz", ".txt", ".yaml", ".yml"),
}


def mlflow(
    uri: str,
    into: str | Path | None = None,
    *,
    experiment: str | None = None,
    progress_bar: bool | None = None,
) -> ImportReport:
    """Import the runs of an MLflow tracking store into the store ``into``.

    >>> report = labtrack.importers.mlflow("sqlite:///mlflow.db", into="out")   # doctest: +SKIP

    Args:
        uri: an MLflow tracking URI (``sqlite:///...``, a folder or ``file://``, ``http://``).
        into: the store directory (default ``$LABTRACK_DIR`` or ``./out``).
        experiment: import only this MLflow experiment (its name or id); each run goes into the
            labtrack experiment of its MLflow experiment's name.
        progress_bar: show a progress bar (default: when stderr is a terminal).

    Raises:
        ImportSourceError: the store does not exist, the server cannot be reached, or no
            experiment is called ``experiment``.
        MissingExtraError: ``mlflow`` is not installed.
    """
    require("mlflow", "mlflow", "importing MLflow runs")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _check_reachable(uri)
    client = MlflowClient(tracking_uri=uri)
    try:
        experiments = _experiments(client, uri, experiment)
        runs = [(exp, run) for exp in experiments for run in _runs(client, exp.experiment_id)]
    except MlflowException as exc:
        raise ImportSourceError(f"cannot read MLflow tracking store {uri}: {exc}") from exc

    def read(item: tuple[Any, Any]) -> SourceRun:
        return read_run(client, *item)

    def describe(item: tuple[Any, Any]) -> tuple[str, str]:
        return f"mlflow:{item[1].info.run_id}", item[1].info.run_name or item[1].info.run_id

    return import_all(runs, read, describe, store_dir(into), f"importing {uri}", progress_bar)


def _check_reachable(uri: str) -> None:
    """Fail fast and clearly on a source that is not there (see the module docstring)."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10):
                return
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ImportSourceError(
                f"cannot reach MLflow tracking server {uri}: {reason}"
            ) from None
    path: str | None = None
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
    elif uri.startswith("file://"):
        path = uri[len("file://") :]
    elif "://" not in uri:
        path = uri
    if path is not None and path != ":memory:" and not os.path.exists(path):
        raise ImportSourceError(f"MLflow tracking store {uri} does not exist ({path})")


def _experiments(client: Any, uri: str, wanted: str | None) -> list[Any]:
    from mlflow.entities import ViewType

    found = []
    token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ALL, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    if wanted is None:
        return found
    chosen = [e for e in found if wanted in (e.name, e.experiment_id)]
    if not chosen:
        names = ", ".join(sorted(e.name for e in found)) or "none"
        raise ImportSourceError(f"{uri} has no experiment {wanted!r} (it has: {names})")
    return chosen


def _runs(client: Any, experiment_id: str) -> Iterator[Any]:
    from mlflow.entities import ViewType

    token = None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def read_run(client: Any, exp: Any, run: Any) -> SourceRun:
    """Read one MLflow run (its artifacts are listed here, downloaded only when written)."""
    info = run.info
    src = SourceRun(
        key=f"mlflow:{info.run_id}",
        kind="mlflow",
        experiment=safe_experiment(exp.name, "mlflow"),
        name=info.run_name or info.run_id,
    )
    src.params = dict(run.data.params)
    src.tags = {k: str(v) for k, v in run.data.tags.items() if "\n" not in k}
    src.tags.update(
        {
            "mlflow.run_id": info.run_id,
            "mlflow.experiment_id": info.experiment_id,
            "mlflow.experiment": exp.name,
            "mlflow.status": info.status,
            "mlflow.start_time": str(info.start_time),
            "mlflow.end_time": str(info.end_time) if info.end_time is not None else "",
        }
    )
    src.status = _STATUS.get(info.status, "completed")
    src.start_time = info.start_time / 1000 if info.start_time else None
    src.end_time = info.end_time / 1000 if info.end_time else None
    for key in sorted(run.data.metrics):
        history = sorted(client.get_metric_history(info.run_id, key), key=_order)
        series = src.series(key)
        for metric in history:
            series.add(int(metric.step), float(metric.value), metric.timestamp / 1000)
    _read_artifacts(client, exp, run, src)
    return src


def _order(metric: Any) -> tuple[int, int]:
    return (metric.timestamp, metric.step)


def _read_artifacts(client: Any, exp: Any, run: Any, src: SourceRun) -> None:
    run_id = run.info.run_id
    for path, is_model in _artifact_paths(client, run_id, None):
        kind = "model" if is_model else _kind(path)
        src.artifacts.append(Artifact(path, kind, _run_artifact(client, run_id, path, is_model)))
    for model in _logged_models(client, exp.experiment_id, run_id):
        src.artifacts.append(Artifact(f"models/{model.name}", "model", _logged_model(model)))


def _run_artifact(
    client: Any, run_id: str, path: str, is_model: bool
) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    def fetch(scratch: Path) -> tuple[Path, dict[str, Any]]:
        local = Path(client.download_artifacts(run_id, path, str(scratch)))
        return local, (_model_metadata(local) if is_model else {})

    return fetch


def _logged_model(model: Any) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    def fetch(scratch: Path) -> tuple[Path, dict[str, Any]]:
        from mlflow.artifacts import download_artifacts

        local = Path(
            download_artifacts(artifact_uri=model.artifact_location, dst_path=str(scratch))
        )
        return local, {**_model_metadata(local), "model_id": model.model_id, "name": model.name}

    return fetch


def _artifact_paths(client: Any, run_id: str, path: str | None) -> Iterator[tuple[str, bool]]:
    """Each artifact file, or model folder (one holding ``MLmodel``), with whether it is one."""
    entries = client.list_artifacts(run_id, path)
    if path is not None and any(e.path.rsplit("/", 1)[-1] == _MODEL_FILE for e in entries):
        yield path, True
        return
    for entry in entries:
        if entry.is_dir:
            yield from _artifact_paths(client, run_id, entry.path)
        elif entry.path.rsplit("/", 1)[-1] == _MODEL_FILE:
            yield entry.path, True  # a model logged at the artifact root
        else:
            yield entry.path, False


def _logged_models(client: Any, experiment_id: str, run_id: str) -> list[Any]:
    search = getattr(client, "search_logged_models", None)
    if search is None:  # MLflow 2: models are run artifacts, found above
        return []
    found = search(experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'")
    return list(found)


def _model_metadata(local: Path) -> dict[str, Any]:
    """The flavors and signature MLflow recorded in ``MLmodel``, as JSON-safe data."""
    import yaml

    model_file = local / _MODEL_FILE if local.is_dir() else local
    try:
        doc = yaml.safe_load(model_file.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(doc, dict):
        return {}
    keep = ("flavors", "mlflow_version", "model_uuid", "utc_time_created", "signature")
    return {k: doc[k] for k in keep if k in doc and doc[k] is not None}


def _kind(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    for kind, suffixes in _KINDS.items():
        if suffix in suffixes:
            return kind
    return "other"
