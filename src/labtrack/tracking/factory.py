"""Which backend the tracking API uses: configuration by code or by environment.

Precedence: an explicit ``configure_*`` call, then the environment (read on every call, never at
import), then the default, labtrack's embedded store, so there is always a backend.

Environment (names here, beside the code that reads them):

* ``ML_TRACKING_BACKEND``: ``labtrack`` (default), ``aim`` or ``mlflow``.
* ``ML_STORAGE_PATH``: where data goes (labtrack: the store directory, default ``$LABTRACK_DIR``
  or ``./out``; aim: the repository, default ``./aim_logs``; mlflow: ``<path>/mlflow.db``).
* ``ML_EXPERIMENT_NAME``: the experiment of runs created without one (default ``default``).
* ``AIM_REPO_PATH``: the Aim repository (over ``ML_STORAGE_PATH``).
* ``MLFLOW_TRACKING_URI``: the MLflow tracking URI (default ``sqlite:///./mlruns/mlflow.db``).

The configuration is process-wide on purpose (the document's ``get_ml_tracker()`` takes no
arguments); pass a backend to :class:`MLTracker` for anything else, and call
:func:`reset_configuration` to forget a ``configure_*`` call.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LabtrackError
from ._backend import TrackingBackend
from ._models import HealthStatus
from ._sync import SyncExperimentRepository, SyncMLTracker
from ._tracker import ExperimentRepository, MLTracker

ML_TRACKING_BACKEND = "ML_TRACKING_BACKEND"
ML_STORAGE_PATH = "ML_STORAGE_PATH"
ML_EXPERIMENT_NAME = "ML_EXPERIMENT_NAME"
AIM_REPO_PATH = "AIM_REPO_PATH"
MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"

_BUILTIN: dict[str, str] = {
    "labtrack": "labtrack.tracking._labtrack:LabtrackBackend",
    "aim": "labtrack.tracking._aim:AimBackend",
    "mlflow": "labtrack.tracking._mlflow:MlflowBackend",
}


@dataclass
class _Configured:
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    experiment_name: str | None = None
    backend: TrackingBackend | None = None


_lock = threading.Lock()
_configured = _Configured()
_custom: dict[str, Callable[..., TrackingBackend]] = {}


def available_backends() -> list[str]:
    """Names ``ML_TRACKING_BACKEND`` and :func:`configure_backend` accept."""
    return sorted({*_BUILTIN, *_custom})


def register_backend(name: str, factory: Callable[..., TrackingBackend]) -> None:
    """Make ``factory(**options)`` selectable as ``name`` (a third-party backend)."""
    _custom[name] = factory


def create_backend(name: str, **options: Any) -> TrackingBackend:
    """A new backend ``name`` built with ``options`` (its package is imported now)."""
    if name in _custom:
        return _custom[name](**options)
    target = _BUILTIN.get(name)
    if target is None:
        raise ConfigError(
            f"unknown tracking backend {name!r}; valid: {', '.join(available_backends())}"
        )
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    backend: TrackingBackend = cls(**options)
    return backend


def configure_backend(
    name: str | TrackingBackend, *, experiment_name: str | None = None, **options: Any
) -> None:
    """Use backend ``name`` (or this backend instance) from now on in this process."""
    if isinstance(name, TrackingBackend):
        backend, key = name, name.name
    else:
        if name not in available_backends():
            raise ConfigError(
                f"unknown tracking backend {name!r}; valid: {', '.join(available_backends())}"
            )
        backend, key = None, name
    with _lock:
        _configured.name, _configured.options = key, dict(options)
        _configured.experiment_name = experiment_name
        _configured.backend = backend


def configure_aim_backend(
    repo_path: str | Path | None = None, experiment_name: str | None = None
) -> None:
    """Use Aim, with its repository at ``repo_path`` (default ``$AIM_REPO_PATH`` or
    ``./aim_logs``)."""
    configure_backend("aim", experiment_name=experiment_name, repo_path=repo_path)


def configure_mlflow_backend(
    tracking_uri: str | None = None, experiment_name: str | None = None
) -> None:
    """Use MLflow at ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI`` or a local SQLite file)."""
    configure_backend("mlflow", experiment_name=experiment_name, tracking_uri=tracking_uri)


def configure_labtrack_backend(
    storage_path: str | Path | None = None, experiment_name: str | None = None
) -> None:
    """Use labtrack's store at ``storage_path`` (default ``$ML_STORAGE_PATH``, ``$LABTRACK_DIR``
    or ``./out``)."""
    configure_backend("labtrack", experiment_name=experiment_name, storage_path=storage_path)


def reset_configuration() -> None:
    """Forget ``configure_*`` calls (and close nothing: trackers keep their backend)."""
    global _configured
    with _lock:
        _configured = _Configured()
        _by_env.clear()


def _env_options(name: str) -> dict[str, Any]:
    storage = os.environ.get(ML_STORAGE_PATH) or None
    if name == "aim":
        return {"repo_path": os.environ.get(AIM_REPO_PATH) or storage}
    if name == "mlflow":
        uri = os.environ.get(MLFLOW_TRACKING_URI) or None
        if uri is None and storage is not None:
            uri = f"sqlite:///{Path(storage).absolute() / 'mlflow.db'}"
        return {"tracking_uri": uri}
    if name == "labtrack":
        return {"storage_path": storage}
    return {}


def current_backend() -> TrackingBackend:
    """The backend the configuration names now (a shared instance per configuration)."""
    with _lock:
        conf = _configured
        if conf.backend is not None:
            return conf.backend
        name = conf.name or os.environ.get(ML_TRACKING_BACKEND) or "labtrack"
        options = {**_env_options(name), **{k: v for k, v in conf.options.items() if v is not None}}
        if conf.name is None:
            # environment-selected: one instance per (name, options), kept while they hold
            key = (name, tuple(sorted((k, str(v)) for k, v in options.items())))
            cached = _by_env.get(key)
            if cached is None:
                cached = _by_env[key] = create_backend(name, **options)
            return cached
        conf.backend = create_backend(name, **options)
        return conf.backend


_by_env: dict[tuple[str, tuple[tuple[str, str], ...]], TrackingBackend] = {}


def default_experiment() -> str:
    return _configured.experiment_name or os.environ.get(ML_EXPERIMENT_NAME) or "default"


async def get_ml_tracker() -> MLTracker:
    """The tracker of the configured backend (``labtrack`` when nothing is configured)."""
    return MLTracker(current_backend(), default_experiment=default_experiment())


async def get_experiment_repository() -> ExperimentRepository:
    """The repository of the configured backend."""
    return ExperimentRepository(current_backend())


def get_ml_tracker_sync() -> SyncMLTracker:
    """:func:`get_ml_tracker` for synchronous code."""
    return SyncMLTracker(current_backend(), default_experiment=default_experiment())


def get_experiment_repository_sync() -> SyncExperimentRepository:
    """:func:`get_experiment_repository` for synchronous code."""
    return SyncExperimentRepository(current_backend())


async def health_check() -> HealthStatus:
    """Whether the configured backend can be used: ``is_healthy`` and a list of ``issues``."""
    try:
        backend = current_backend()
    except (LabtrackError, ImportError) as exc:
        name = _configured.name or os.environ.get(ML_TRACKING_BACKEND) or "labtrack"
        return HealthStatus(backend=name, issues=[str(exc)])
    return await backend.health()


def health_check_sync() -> HealthStatus:
    """:func:`health_check` for synchronous code."""
    import asyncio

    return asyncio.run(health_check())
