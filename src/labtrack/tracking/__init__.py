"""The backend-agnostic tracking API: application code talks to :class:`MLTracker` and
:class:`ExperimentRepository` and never names a backend; configuration picks it.

::

    from labtrack.tracking import get_ml_tracker, TrainingMetrics, ExperimentStatus

    tracker = await get_ml_tracker()
    run = await tracker.create_run(experiment_name="ppo", config={"lr": 3e-4})
    await tracker.log_metrics(run, TrainingMetrics(step=1000, loss=0.045, reward=1250.5))
    await tracker.finish_run(run, status=ExperimentStatus.COMPLETED)

Backends (``ML_TRACKING_BACKEND``): ``labtrack`` (default, the embedded store), ``aim`` and
``mlflow``, each one module imported when selected. The same API without ``await`` is in
:mod:`labtrack.tracking.sync`. The Stable-Baselines3 callback is
:class:`labtrack.tracking.callbacks.TrackingCallback`.

May import: ``labtrack.errors``, ``labtrack.store``, ``labtrack._run`` (the labtrack backend).
Heavy packages (aim, mlflow) only inside their backend's module.
"""

from __future__ import annotations

from ._backend import BlockingBackend, ExperimentNotFoundError, TrackingBackend
from ._models import (
    ArtifactType,
    ExperimentRun,
    ExperimentStatus,
    ExperimentSummary,
    HealthStatus,
    MetricPoint,
    ModelArtifact,
    TrainingMetrics,
)
from ._sync import SyncExperimentRepository, SyncMLTracker
from ._tracker import ExperimentRepository, MLTracker
from .factory import (
    available_backends,
    configure_aim_backend,
    configure_backend,
    configure_labtrack_backend,
    configure_mlflow_backend,
    create_backend,
    get_experiment_repository,
    get_experiment_repository_sync,
    get_ml_tracker,
    get_ml_tracker_sync,
    health_check,
    health_check_sync,
    register_backend,
    reset_configuration,
)

__all__ = [
    "ArtifactType",
    "BlockingBackend",
    "ExperimentNotFoundError",
    "ExperimentRepository",
    "ExperimentRun",
    "ExperimentStatus",
    "ExperimentSummary",
    "HealthStatus",
    "MLTracker",
    "MetricPoint",
    "ModelArtifact",
    "SyncExperimentRepository",
    "SyncMLTracker",
    "TrackingBackend",
    "TrainingMetrics",
    "available_backends",
    "configure_aim_backend",
    "configure_backend",
    "configure_labtrack_backend",
    "configure_mlflow_backend",
    "create_backend",
    "get_experiment_repository",
    "get_experiment_repository_sync",
    "get_ml_tracker",
    "get_ml_tracker_sync",
    "health_check",
    "health_check_sync",
    "register_backend",
    "reset_configuration",
]
