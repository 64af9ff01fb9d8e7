"""The tracking API without ``await``, for training loops and scripts.

::

    from labtrack.tracking.sync import get_ml_tracker

    tracker = get_ml_tracker()
    run = tracker.create_run("ppo", config={"lr": 3e-4})
    tracker.log_metric(run, "reward", 1.0, step=0)
    tracker.finish_run(run)
"""

from __future__ import annotations

from ._sync import SyncExperimentRepository, SyncMLTracker
from .factory import get_experiment_repository_sync as get_experiment_repository
from .factory import get_ml_tracker_sync as get_ml_tracker
from .factory import health_check_sync as health_check

__all__ = [
    "SyncExperimentRepository",
    "SyncMLTracker",
    "get_experiment_repository",
    "get_ml_tracker",
    "health_check",
]
