"""labtrack's flagship example: a distributed RL pipeline on Ray that learns, records and resumes.

PPO on Gymnasium's ``CartPole-v1``: ``SelfPlayWorker`` actors play episodes with the latest
weights, a central ``Trainer`` learns from the ``ExperienceBuffer``, and every statistic,
checkpoint and buffer goes through labtrack's ``TrackerActor`` into a labtrack run. Run it with
``python -m examples.distributed_rl`` from the repository root; ``docs/distributed_rl.md`` walks
through the architecture.

Modules (the structure of the training module it is modelled on): ``config`` (``RunContext``,
``TrainConfig``, ``ModelConfig``, ``WorkerConfig``), ``setup`` (``setup_training_components``),
``components`` (``TrainingComponents``), ``worker_manager`` (``WorkerManager``), ``loop``
(``TrainingLoop``), ``loop_helpers`` (``LoopHelpers``), ``runner`` / ``runners``
(``run_training``), ``logging_utils`` (``log_configs_to_mlflow``); the RL parts: ``network``,
``trainer``, ``buffer``, ``self_play``; ``metrics`` (the tracker's rules) and ``cli``.

Importing this package imports nothing heavy; the modules import torch, Ray and gymnasium.
"""

from __future__ import annotations

from .config import ModelConfig, RunContext, TrainConfig, WorkerConfig

__all__ = ["ModelConfig", "RunContext", "TrainConfig", "WorkerConfig"]
