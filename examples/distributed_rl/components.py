"""``TrainingComponents``: everything the loop needs, built once by ``setup_training_components``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .buffer import ExperienceBuffer
from .config import ModelConfig, RunContext, TrainConfig, WorkerConfig
from .network import ActorCritic
from .trainer import Trainer


@dataclass
class TrainingComponents:
    """The run's identity, configs, model, trainer, buffer and tracker actor, bundled."""

    run_context: RunContext
    train_config: TrainConfig
    model_config: ModelConfig
    worker_config: WorkerConfig
    model: ActorCritic
    trainer: Trainer
    buffer: ExperienceBuffer
    tracker_actor: Any  # a TrackerActor handle, or None with tracking off
    tracker_actor_name: str | None
    run_base_dir: str | None  # the labtrack run directory (None with tracking off)
    num_workers: int
    ray_started_here: bool  # the runner shuts Ray down only if setup started it
