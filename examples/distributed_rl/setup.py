"""``setup_training_components``: Ray, configs, model, trainer, buffer and the tracker actor.

The tracker actor is named after the run (trieye's ``trieye_actor_<run_name>``): if an actor of
that name is alive in the cluster (a driver restarted against a running cluster), it is reused;
otherwise it is created ``detached``, so that it outlives a crashed driver on a long-lived
cluster (the runner shuts it down and kills it at the end).
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import numpy as np
import torch

from labtrack.tracker import PersistenceConfig, StatsConfig, TrackerActor, TrackerConfig
from labtrack.tracker.actor import actor_name

from .buffer import ExperienceBuffer
from .components import TrainingComponents
from .config import APP_NAME, ModelConfig, RunContext, TrainConfig, WorkerConfig
from .metrics import pipeline_metrics
from .network import ActorCritic
from .trainer import Trainer

log = logging.getLogger(__name__)


def detect_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def init_ray(num_cpus: int) -> bool:
    """Start a local Ray unless one is running; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        namespace="distributed_rl",  # the detached tracker actor is found by name in it
    )
    return True


def tracker_config(run_context: RunContext, train: TrainConfig) -> TrackerConfig:
    return TrackerConfig(
        app_name=APP_NAME,
        run_name=run_context.run_name,
        mirrors=["mlflow"] if train.MLFLOW else [],
        persistence=PersistenceConfig(
            ROOT_DATA_DIR=run_context.data_dir,
            BUFFER_SAVE_FREQ_STEPS=train.BUFFER_SAVE_FREQ_STEPS,
            KEEP_LAST_N_CHECKPOINTS=train.KEEP_LAST_N_CHECKPOINTS,
            # resume this run only: a new run name starts fresh, never from another run
            AUTO_RESUME_LATEST=run_context.resume,
            RESUME_RUN_NAME=run_context.run_name if run_context.resume else None,
        ),
        stats=StatsConfig(
            processing_interval_seconds=train.PROCESSING_INTERVAL_SECONDS,
            metrics=pipeline_metrics(),
        ),
    )


def get_or_create_tracker(config: TrackerConfig) -> tuple[Any, str]:
    import ray

    name = actor_name(config.run_name)
    try:
        actor = ray.get_actor(name)
        log.info("reusing the running tracker actor %r", name)
    except ValueError:
        actor = TrackerActor.options(name=name, lifetime="detached", num_cpus=0).remote(
            config=config
        )
    return actor, name


def setup_training_components(
    run_context: RunContext,
) -> tuple[TrainingComponents | None, bool]:
    """Everything the loop needs, and whether a checkpoint will be resumed (the loop loads it).

    Returns ``(None, False)`` when setup fails (the error is logged).
    """
    import ray

    try:
        train = TrainConfig(**run_context.overrides)
        cpus = detect_cpus()
        ray_started = init_ray(cpus)
        available = int(ray.cluster_resources().get("CPU", cpus))  # type: ignore[no-untyped-call]
        workers = min(train.NUM_WORKERS, max(1, available))
        if workers != train.NUM_WORKERS:
            log.warning("%d CPUs: using %d workers, not %d", available, workers, train.NUM_WORKERS)
        random.seed(run_context.seed)
        np.random.seed(run_context.seed)
        torch.manual_seed(run_context.seed)
        torch.set_num_threads(1)  # the workers and the tracker need the other cores
        model_config = ModelConfig()
        worker_config = WorkerConfig(**run_context.worker_overrides)
        model = ActorCritic(model_config)
        trainer = Trainer(model, train, seed=run_context.seed)
        actor: Any = None
        name: str | None = None
        run_dir: str | None = None
        has_checkpoint = False
        if train.TRACKING:
            tconfig = tracker_config(run_context, train)
            actor, name = get_or_create_tracker(tconfig)
            run_dir = str(ray.get(actor.get_run_base_dir.remote(), timeout=120))
            ckpts = os.path.join(run_dir, tconfig.persistence.CHECKPOINT_SAVE_DIR_NAME)
            has_checkpoint = run_context.resume and os.path.isdir(ckpts) and bool(os.listdir(ckpts))
        components = TrainingComponents(
            run_context=run_context,
            train_config=train,
            model_config=model_config,
            worker_config=worker_config,
            model=model,
            trainer=trainer,
            buffer=ExperienceBuffer(),
            tracker_actor=actor,
            tracker_actor_name=name,
            run_base_dir=run_dir,
            num_workers=workers,
            ray_started_here=ray_started,
        )
        return components, has_checkpoint
    except Exception:
        log.exception("setup failed")
        return None, False
