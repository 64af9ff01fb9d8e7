"""The run's configs: saved with the run (``configs/configs.json``) and mirrored to MLflow.

The tracker writes its own config; this adds the pipeline's (train, model, worker, run context)
through ``save_run_config``, which also hands the file to every mirror the tracker has open, so
with ``--mlflow`` the configs appear as the MLflow run's ``configs`` artifact.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from .components import TrainingComponents

log = logging.getLogger(__name__)


def all_configs(components: TrainingComponents) -> dict[str, Any]:
    return {
        "run_context": dataclasses.asdict(components.run_context),
        "train": components.train_config.model_dump(mode="json"),
        "model": components.model_config.model_dump(mode="json"),
        "worker": components.worker_config.model_dump(mode="json"),
        "num_workers": components.num_workers,
    }


def log_configs_to_mlflow(components: TrainingComponents, timeout: float = 60.0) -> str | None:
    """Save the configs with the run (and to MLflow when mirrored); returns the file's path."""
    import ray

    if components.tracker_actor is None:
        return None
    ref = components.tracker_actor.save_run_config.remote(all_configs(components))
    path: str = ray.get(ref, timeout=timeout)
    log.info("configs saved to %s", path)
    return path
